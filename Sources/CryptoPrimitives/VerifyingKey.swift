import COpenSSL

/// A public key that checks signatures in the forms WebAuthn authenticators make (COSE algorithms): ES256 with a DER
/// signature, EdDSA (Ed25519), RS256 (RSASSA-PKCS1-v1_5 with SHA-256, 2048 bits or more).
///
/// Immutable; checking from several threads at once is safe (each check uses its own context).
public final class VerifyingKey: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is never mutated after creation.
    private let key: OpaquePointer

    /// The signature scheme the key is for.
    public enum Algorithm: Sendable, Equatable {
        /// ECDSA on P-256 with SHA-256; signatures in ASN.1 DER (not JOSE's r || s).
        case es256
        /// Ed25519 (64-byte signatures).
        case ed25519
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        case rs256
    }

    public let algorithm: Algorithm

    private init(owning key: OpaquePointer, algorithm: Algorithm) {
        self.key = key
        self.algorithm = algorithm
    }

    deinit { EVP_PKEY_free(key) }

    /// A P-256 key from its affine coordinates (32 bytes each), checked to lie on the curve.
    public static func es256(x: [UInt8], y: [UInt8]) throws(CryptoError) -> VerifyingKey {
        guard x.count == 32, y.count == 32 else { throw CryptoError("P-256 coordinates have 32 bytes each") }
        let made = x.withUnsafeBufferPointer { xs in y.withUnsafeBufferPointer { COpenSSL_p256_from_raw(xs.baseAddress, $0.baseAddress, nil) } }
        guard let made else { throw CryptoError("invalid P-256 key (not on the curve)") }
        return VerifyingKey(owning: made, algorithm: .es256)
    }

    /// An Ed25519 key from its 32 bytes.
    public static func ed25519(publicKey: [UInt8]) throws(CryptoError) -> VerifyingKey {
        guard publicKey.count == 32 else { throw CryptoError("an Ed25519 public key has 32 bytes") }
        guard let made = publicKey.withUnsafeBufferPointer({ COpenSSL_ed25519_from_public($0.baseAddress) }) else {
            throw CryptoError("invalid Ed25519 key")
        }
        return VerifyingKey(owning: made, algorithm: .ed25519)
    }

    /// An RSA key from its modulus and public exponent (big-endian, as COSE carries them): 2048 to 16384 bits.
    public static func rs256(modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) -> VerifyingKey {
        guard !modulus.isEmpty, !exponent.isEmpty, modulus.count <= 2048, exponent.count <= 8 else {
            throw CryptoError("an RSA key's modulus or exponent has an impossible length")
        }
        let made = modulus.withUnsafeBufferPointer { n in
            exponent.withUnsafeBufferPointer { COpenSSL_rsa_from_ne(n.baseAddress, n.count, $0.baseAddress, $0.count) }
        }
        guard let made else { throw CryptoError("invalid RSA key") }
        guard COpenSSL_key_bits(made) >= 2048 else {
            EVP_PKEY_free(made)
            throw CryptoError("an RSA key needs 2048 bits or more")
        }
        return VerifyingKey(owning: made, algorithm: .rs256)
    }

    /// The public key of a DER X.509 certificate, for `algorithm` (the certificate is only parsed: no chain, dates
    /// or names are checked; that is the caller's policy).
    public static func certificate(_ der: [UInt8], algorithm: Algorithm) throws(CryptoError) -> VerifyingKey {
        guard !der.isEmpty, der.count <= 16384 else { throw CryptoError("a certificate of impossible length") }
        guard let made = der.withUnsafeBufferPointer({ COpenSSL_certificate_public_key($0.baseAddress, $0.count) }) else {
            throw CryptoError("not a readable X.509 certificate")
        }
        let matches: Bool
        switch algorithm {
        case .es256: matches = COpenSSL_key_kind(made) == Int32(COpenSSL_KEY_P256)
        case .ed25519: matches = COpenSSL_key_kind(made) == Int32(COpenSSL_KEY_ED25519)
        case .rs256: matches = COpenSSL_key_is_rsa(made) == 1 && COpenSSL_key_bits(made) >= 2048
        }
        guard matches else {
            EVP_PKEY_free(made)
            throw CryptoError("the certificate's key does not fit the algorithm")
        }
        return VerifyingKey(owning: made, algorithm: algorithm)
    }

    /// Whether `signature` is valid for `message`. Malformed signatures are simply invalid.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                switch algorithm {
                case .ed25519: COpenSSL_ed25519_verify(key, msg.baseAddress, msg.count, sig.baseAddress, sig.count) == 1
                case .es256, .rs256: COpenSSL_verify_sha256(key, msg.baseAddress, msg.count, sig.baseAddress, sig.count) == 1
                }
            }
        }
    }
}
