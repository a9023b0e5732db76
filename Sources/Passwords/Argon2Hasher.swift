import CArgon2
import CCrypt
import CryptoPrimitives

/// Hashes with Argon2id (libargon2) in PHC string format and checks Argon2id, Argon2i (PHP `PASSWORD_ARGON2I`,
/// `PASSWORD_ARGON2ID`) and bcrypt (`$2y$`, `$2b$`, `$2a$`: PHP `PASSWORD_DEFAULT`) hashes.
///
/// Stored hashes are parsed strictly before any costly call: only version 19, costs within
/// ``Argon2Parameters/caps``, canonical base64, sane salt and hash lengths, bcrypt cost ≤ 15.
public struct Argon2Hasher: PasswordHashing {
    /// Parameters of new hashes; a stored hash weaker than these is rehashed after a successful login.
    public let parameters: Argon2Parameters
    private let dummyHash: String

    /// How many Argon2 working-memory buffers the process keeps for reuse (0–64; default 0): set it to the number
    /// of hashes that may run at once, so that no hash pays for a fresh buffer (page faults: about a fifth of a
    /// 19 MiB hash) and no more are kept.
    public static func keepReusableBuffers(_ count: Int) {
        Argon2MemoryPool.capacity = count
    }

    /// Working-memory buffers waiting for reuse now.
    public static var reusableBuffers: Int { Argon2MemoryPool.pooled }

    /// - Throws: ``PasswordError`` when libargon2 refuses the parameters.
    public init(parameters: Argon2Parameters = .owasp) throws(PasswordError) {
        self.parameters = parameters
        dummyHash = try Self.makeHash(Random.bytes(16).map { String(format: $0) }.joined(), parameters: parameters)
    }

    public func hash(_ password: String) throws(PasswordError) -> String {
        try Self.makeHash(password, parameters: parameters)
    }

    @discardableResult
    public func checkAgainstDummy(_ password: String) -> PasswordCheck {
        _ = check(password, against: dummyHash)
        return .invalid
    }

    public func check(_ password: String, against stored: String) -> PasswordCheck {
        if stored.hasPrefix("$argon2") {
            guard let parsed = PHCHash(parsing: stored) else { return .unsupportedHash }
            guard
                let derived = try? Self.derive(
                    password, type: parsed.type, parameters: parsed.parameters,
                    salt: parsed.salt, length: parsed.hash.count)
            else {
                return .unsupportedHash
            }
            guard ConstantTime.equals(derived, parsed.hash) else { return .invalid }
            return .valid(needsRehash: parsed.type != .argon2id || parsed.parameters < parameters)
        }
        if stored.hasPrefix("$2") {
            guard BcryptHash.isWellFormed(stored), !password.utf8.contains(0) else { return .unsupportedHash }
            var out = [CChar](repeating: 0, count: 128)
            let ok = out.withUnsafeMutableBufferPointer { CCrypt_hash(password, stored, $0.baseAddress, $0.count) }
            defer { for index in out.indices { out[index] = 0 } }
            guard ok == 1 else { return .unsupportedHash }
            let computed = out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return ConstantTime.equals(computed, Array(stored.utf8)) ? .valid(needsRehash: true) : .invalid
        }
        return .unsupportedHash
    }

    // MARK: Internals

    enum Variant: String {
        case argon2i, argon2id
    }

    static func derive(
        _ password: String, type: Variant, parameters: Argon2Parameters, salt: [UInt8],
        length: Int
    ) throws(PasswordError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let bytes = Array(password.utf8)
        let status = out.withUnsafeMutableBytes { output in
            bytes.withUnsafeBytes { pwd in
                salt.withUnsafeBytes { saltBytes in
                    CArgon2_hash_raw(
                        type == .argon2i ? 1 : 2, parameters.iterations, parameters.memoryKiB,
                        parameters.parallelism, pwd.baseAddress, pwd.count, saltBytes.baseAddress,
                        saltBytes.count, output.baseAddress, output.count,
                        Argon2MemoryPool.allocate, Argon2MemoryPool.release)
                }
            }
        }
        guard status == ARGON2_OK.rawValue else {
            throw PasswordError(code: status, message: String(cString: argon2_error_message(status)))
        }
        return out
    }

    static func makeHash(_ password: String, parameters: Argon2Parameters) throws(PasswordError) -> String {
        let salt = Random.bytes(16)
        let derived = try derive(password, type: .argon2id, parameters: parameters, salt: salt, length: 32)
        return "$argon2id$v=19$m=\(parameters.memoryKiB),t=\(parameters.iterations),p=\(parameters.parallelism)$"
            + PHCBase64.encode(salt) + "$" + PHCBase64.encode(derived)
    }
}

extension String {
    fileprivate init(format byte: UInt8) {
        self = String(byte, radix: 16)
    }
}
