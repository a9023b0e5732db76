import COpenSSL

/// Key material in memory of its own, zeroed with `OPENSSL_cleanse` when released.
///
/// Immutable after creation. Swift arrays handed in cannot be reliably wiped by us (copies may exist), so key
/// material is moved into ``SecureBytes`` as early as possible and kept only here.
public final class SecureBytes: @unchecked Sendable {
    // @unchecked Sendable: the buffer is written once in init and only read afterwards.
    private let storage: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into zeroed-on-release storage.
    public init(_ bytes: some Collection<UInt8>) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        _ = storage.initializeMemory(as: UInt8.self, from: bytes)
        count = bytes.count
    }

    /// `count` random bytes from OpenSSL's CSPRNG.
    public convenience init(randomCount count: Int) {
        self.init(Random.bytes(count))
    }

    /// The number of bytes.
    public let count: Int

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    /// Reads the bytes; the pointer must not escape the closure.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.baseAddress, count: count))
    }

    /// A copy as an array (for export to a key file only).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Secure random bytes.
public enum Random {
    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`). Traps if the CSPRNG fails: nothing secure can be done then.
    public static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBytes { RAND_bytes($0.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        precondition(count == 0 || ok == 1, "RAND_bytes failed: the system CSPRNG is unusable")
        return bytes
    }
}

/// Comparisons whose time does not depend on where the inputs differ.
public enum ConstantTime {
    /// Whether `a` and `b` are equal. The time depends on the length only (lengths are not secret: a MAC's length
    /// is fixed), never on the contents.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        let left = Array(a)
        let right = Array(b)
        return left.withUnsafeBytes { l in right.withUnsafeBytes { r in CRYPTO_memcmp(l.baseAddress, r.baseAddress, l.count) == 0 } }
    }
}

/// SHA-256.
public enum SHA256 {
    /// The 32-byte digest of `data`.
    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let input = Array(data)
        let ok = input.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { COpenSSL_sha256(source.baseAddress, source.count, $0.baseAddress) }
        }
        precondition(ok == 1, "SHA-256 failed")
        return out
    }
}

/// HKDF with SHA-256 (RFC 5869), by OpenSSL: independent keys for separate purposes from one secret.
public enum HKDF {
    /// `count` bytes (at most 255 × 32) derived from `secret`, for the purpose named by `info`.
    public static func sha256(secret: SecureBytes, salt: [UInt8], info: [UInt8], count: Int = 32) -> SecureBytes {
        precondition(count > 0 && count <= 255 * 32, "HKDF-SHA256 output length out of range")
        var out = [UInt8](repeating: 0, count: count)
        let ok = secret.withUnsafeBytes { key in
            out.withUnsafeMutableBufferPointer { output in
                COpenSSL_hkdf_sha256(
                    key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count, salt, salt.count, info, info.count,
                    output.baseAddress, count)
            }
        }
        precondition(ok == 1, "HKDF-SHA256 failed")
        defer { for index in out.indices { out[index] = 0 } }
        return SecureBytes(out)
    }
}
