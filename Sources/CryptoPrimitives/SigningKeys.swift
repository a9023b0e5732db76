import COpenSSL

/// Why a key could not be made or used. Carries OpenSSL's context, never key material.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An asymmetric key held by OpenSSL (`EVP_PKEY`), owned here and freed once.
///
/// Immutable; signing and verifying from several threads at once is safe (each call uses its own context).
public final class AsymmetricKey: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is never mutated after creation; OpenSSL 3 allows concurrent use of a
    // read-only key.
    private let key: OpaquePointer

    /// The curve.
    public enum Kind: Sendable, Equatable {
        case ed25519
        case p256
    }

    public let kind: Kind
    /// Whether it can sign (holds the private part).
    public let isPrivate: Bool

    private init(owning key: OpaquePointer) throws(CryptoError) {
        switch COpenSSL_key_kind(key) {
        case Int32(COpenSSL_KEY_ED25519): kind = .ed25519
        case Int32(COpenSSL_KEY_P256): kind = .p256
        default:
            EVP_PKEY_free(key)
            throw CryptoError("only Ed25519 and P-256 keys are supported")
        }
        self.key = key
        isPrivate = COpenSSL_key_has_private(key) == 1
    }

    deinit { EVP_PKEY_free(key) }

    /// A new random key.
    public static func generate(_ kind: Kind) throws(CryptoError) -> AsymmetricKey {
        guard let made = COpenSSL_generate(kind == .ed25519 ? Int32(COpenSSL_KEY_ED25519) : Int32(COpenSSL_KEY_P256)) else {
            throw CryptoError("key generation failed")
        }
        return try AsymmetricKey(owning: made)
    }

    /// An Ed25519 key from its 32-byte private seed, or its 32-byte public key.
    public static func ed25519(privateSeed: [UInt8]? = nil, publicKey: [UInt8]? = nil) throws(CryptoError) -> AsymmetricKey {
        let made: OpaquePointer?
        if let privateSeed {
            guard privateSeed.count == 32 else { throw CryptoError("an Ed25519 private key has 32 bytes") }
            made = privateSeed.withUnsafeBufferPointer { COpenSSL_ed25519_from_private($0.baseAddress) }
        } else if let publicKey {
            guard publicKey.count == 32 else { throw CryptoError("an Ed25519 public key has 32 bytes") }
            made = publicKey.withUnsafeBufferPointer { COpenSSL_ed25519_from_public($0.baseAddress) }
        } else {
            throw CryptoError("an Ed25519 key needs a private seed or a public key")
        }
        guard let made else { throw CryptoError("invalid Ed25519 key") }
        let key = try AsymmetricKey(owning: made)
        if let privateSeed, let publicKey, try key.ed25519PublicKey() != publicKey {
            _ = privateSeed
            throw CryptoError("the Ed25519 public key does not match the private key")
        }
        return key
    }

    /// A P-256 key from its affine coordinates (32 bytes each) and optionally its private scalar `d`. The point is
    /// checked to lie on the curve and, with `d`, to match it.
    public static func p256(x: [UInt8], y: [UInt8], d: [UInt8]? = nil) throws(CryptoError) -> AsymmetricKey {
        guard x.count == 32, y.count == 32, d == nil || d?.count == 32 else {
            throw CryptoError("P-256 coordinates and private scalar have 32 bytes each")
        }
        let made: OpaquePointer? = x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                if let d {
                    return d.withUnsafeBufferPointer { COpenSSL_p256_from_raw(xs.baseAddress, ys.baseAddress, $0.baseAddress) }
                }
                return COpenSSL_p256_from_raw(xs.baseAddress, ys.baseAddress, nil)
            }
        }
        guard let made else { throw CryptoError("invalid P-256 key (not on the curve, or d does not match)") }
        return try AsymmetricKey(owning: made)
    }

    /// A key from PEM: PKCS#8 / SEC1 private key, or SubjectPublicKeyInfo public key.
    public static func pem(_ text: String) throws(CryptoError) -> AsymmetricKey {
        let bytes = Array(text.utf8)
        let isPrivate = text.contains("PRIVATE KEY-----")
        let made = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { COpenSSL_pem_read($0.baseAddress, $0.count, isPrivate ? 1 : 0) }
        }
        guard let made else { throw CryptoError("not a readable PEM \(isPrivate ? "private" : "public") key") }
        return try AsymmetricKey(owning: made)
    }

    /// The key as PEM (PKCS#8 for a private key, SubjectPublicKeyInfo for the public part).
    public func pem(includingPrivate: Bool) throws(CryptoError) -> String {
        let wantPrivate = includingPrivate && isPrivate
        let length = COpenSSL_pem_write(key, wantPrivate ? 1 : 0, nil, 0)
        guard length > 0 else { throw CryptoError("PEM export failed") }
        var buffer = [CChar](repeating: 0, count: length)
        let written = buffer.withUnsafeMutableBufferPointer { COpenSSL_pem_write(key, wantPrivate ? 1 : 0, $0.baseAddress, length) }
        guard written == length else { throw CryptoError("PEM export failed") }
        let text = String(decoding: buffer.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for index in buffer.indices { buffer[index] = 0 }
        return text
    }

    /// The 32-byte Ed25519 public key.
    public func ed25519PublicKey() throws(CryptoError) -> [UInt8] {
        guard kind == .ed25519 else { throw CryptoError("not an Ed25519 key") }
        var out = [UInt8](repeating: 0, count: 32)
        guard out.withUnsafeMutableBufferPointer({ COpenSSL_ed25519_export(key, $0.baseAddress, nil) }) == 1 else {
            throw CryptoError("Ed25519 export failed")
        }
        return out
    }

    /// The 32-byte Ed25519 private seed.
    public func ed25519PrivateSeed() throws(CryptoError) -> SecureBytes {
        guard kind == .ed25519, isPrivate else { throw CryptoError("not an Ed25519 private key") }
        var publicKey = [UInt8](repeating: 0, count: 32)
        var seed = [UInt8](repeating: 0, count: 32)
        let ok = publicKey.withUnsafeMutableBufferPointer { p in
            seed.withUnsafeMutableBufferPointer { COpenSSL_ed25519_export(key, p.baseAddress, $0.baseAddress) }
        }
        defer { for index in seed.indices { seed[index] = 0 } }
        guard ok == 1 else { throw CryptoError("Ed25519 export failed") }
        return SecureBytes(seed)
    }

    /// The P-256 coordinates, and `d` for a private key.
    public func p256Components() throws(CryptoError) -> (x: [UInt8], y: [UInt8], d: SecureBytes?) {
        guard kind == .p256 else { throw CryptoError("not a P-256 key") }
        var x = [UInt8](repeating: 0, count: 32)
        var y = [UInt8](repeating: 0, count: 32)
        var d = [UInt8](repeating: 0, count: 32)
        defer { for index in d.indices { d[index] = 0 } }
        let ok = x.withUnsafeMutableBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                d.withUnsafeMutableBufferPointer { COpenSSL_p256_export(key, xs.baseAddress, ys.baseAddress, isPrivate ? $0.baseAddress : nil) }
            }
        }
        guard ok == 1 else { throw CryptoError("P-256 export failed") }
        return (x, y, isPrivate ? SecureBytes(d) : nil)
    }

    /// Signs `message`: Ed25519 (64 bytes) or ES256 as raw r || s (64 bytes).
    ///
    /// - Throws: ``CryptoError`` for a public-only key.
    public func sign(_ message: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        guard isPrivate else { throw CryptoError("a public key cannot sign") }
        var signature = [UInt8](repeating: 0, count: 64)
        let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let ok = signature.withUnsafeMutableBufferPointer { out in
            switch kind {
            case .ed25519: COpenSSL_ed25519_sign(key, input, message.count, out.baseAddress)
            case .p256: COpenSSL_es256_sign(key, input, message.count, out.baseAddress)
            }
        }
        guard ok == 1 else { throw CryptoError("signing failed") }
        return signature
    }

    /// Signs `message` (see the pointer-based overload).
    public func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let result = message.withUnsafeBytes { bytes in
            Result { () throws(CryptoError) -> [UInt8] in try sign(bytes) }
        }
        return try result.get()
    }

    /// Whether `signature` is valid for `message` (see the pointer-based overload).
    public func isValidSignature(_ signature: [UInt8], for message: ArraySlice<UInt8>) -> Bool {
        signature.withUnsafeBytes { sig in message.withUnsafeBytes { isValidSignature(sig, for: $0) } }
    }

    /// Whether `signature` (64 bytes, raw r || s for P-256) is valid for `message`. Malformed signatures, including
    /// r = 0 or s = 0, are simply invalid.
    public func isValidSignature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let sig = signature.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard sig != nil, signature.count == 64 else { return false }
        switch kind {
        case .ed25519: return COpenSSL_ed25519_verify(key, input, message.count, sig, signature.count) == 1
        case .p256: return COpenSSL_es256_verify(key, input, message.count, sig, signature.count) == 1
        }
    }
}
