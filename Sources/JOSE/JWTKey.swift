public import CryptoPrimitives
public import StrictJSON

/// A signing or verification key bound to exactly one algorithm, with an optional key id.
///
/// Immutable and thread-safe. HMAC keys must be at least 32 bytes; their material is zeroed when released.
public final class JWTKey: Sendable {
    /// The one algorithm this key is used with.
    public let algorithm: JWSAlgorithm
    /// The `kid` written on tokens and matched on verification; for asymmetric keys it defaults to the RFC 7638
    /// thumbprint.
    public let id: String?

    enum Material: Sendable {
        case hmac(HMACSHA256Key, SecureBytes)
        case asymmetric(AsymmetricKey)
    }

    let material: Material

    private init(algorithm: JWSAlgorithm, id: String?, material: Material) {
        self.algorithm = algorithm
        self.id = id
        self.material = material
    }

    /// An HS256 key.
    ///
    /// - Throws: ``JOSEError/invalidKey`` when the secret is shorter than 32 bytes (RFC 7518 §3.2) or the id is bad.
    public static func hmac(secret: SecureBytes, id: String? = nil) throws(JOSEError) -> JWTKey {
        guard secret.count >= 32 else {
            throw JOSEError(.invalidKey, "an HS256 secret must have at least 32 bytes, this one has \(secret.count)")
        }
        try validate(id: id)
        return JWTKey(algorithm: .hs256, id: id, material: .hmac(HMACSHA256Key(secret: secret), secret))
    }

    /// An EdDSA (Ed25519) or ES256 (P-256) key; without `id`, its RFC 7638 thumbprint is the key id.
    public static func asymmetric(_ key: AsymmetricKey, id: String? = nil) throws(JOSEError) -> JWTKey {
        try validate(id: id)
        let algorithm: JWSAlgorithm = key.kind == .ed25519 ? .edDSA : .es256
        let provisional = JWTKey(algorithm: algorithm, id: id, material: .asymmetric(key))
        if id != nil { return provisional }
        return JWTKey(algorithm: algorithm, id: try provisional.thumbprint(), material: .asymmetric(key))
    }

    private static func validate(id: String?) throws(JOSEError) {
        guard let id else { return }
        guard !id.isEmpty, id.utf8.count <= 128, id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw JOSEError(.invalidKey, "a key id must be 1-128 printable ASCII characters")
        }
    }

    /// Whether this key can sign (HMAC, or an asymmetric key with its private part).
    public var canSign: Bool {
        switch material {
        case .hmac: true
        case .asymmetric(let key): key.isPrivate
        }
    }

    /// Signs the JWS signing input.
    func sign(_ input: [UInt8]) throws(JOSEError) -> [UInt8] {
        switch material {
        case .hmac(let hmac, _):
            return hmac.authenticationCode(for: input)
        case .asymmetric(let key):
            do {
                return try key.sign(input)
            } catch {
                throw JOSEError(.invalidKey, error.message)
            }
        }
    }

    /// Whether `signature` is valid for `input` (HMAC compared in constant time).
    func isValid(signature: [UInt8], for input: ArraySlice<UInt8>) -> Bool {
        guard signature.count == algorithm.signatureLength else { return false }
        switch material {
        case .hmac(let hmac, _):
            return hmac.isValid(signature, for: input)
        case .asymmetric(let key):
            return key.isValidSignature(signature, for: input)
        }
    }

    /// A secret for another purpose, derived from this key's secret material (HKDF-SHA256, `purpose` as its info):
    /// the same wherever this key is loaded, independent of the key itself; `nil` for a public key, which holds no
    /// secret to derive from.
    public func derivedSecret(purpose: String) -> SecureBytes? {
        let secret: SecureBytes?
        switch material {
        case .hmac(_, let bytes): secret = bytes
        case .asymmetric(let key):
            switch key.kind {
            case .ed25519: secret = key.isPrivate ? try? key.ed25519PrivateSeed() : nil
            case .p256: secret = (try? key.p256Components())?.d
            }
        }
        guard let secret else { return nil }
        return HKDF.sha256(secret: secret, salt: Array("jwt-authd derived key".utf8), info: Array(purpose.utf8))
    }

    // MARK: JWK

    /// The public JWK (RFC 7517) with `kid`, `alg` and `use`; `nil` for an HMAC key, which has no public part.
    public func publicJWK() throws(JOSEError) -> JSON? {
        guard case .asymmetric = material else { return nil }
        var members = try requiredMembers(includingSecret: false)
        members += [("alg", .string(algorithm.rawValue)), ("use", .string("sig"))]
        if let id { members.append(("kid", .string(id))) }
        return .object(members)
    }

    /// The full JWK including private material (for a key file written with mode 0600; never served).
    public func privateJWK() throws(JOSEError) -> JSON {
        var members = try requiredMembers(includingSecret: true)
        switch material {
        case .hmac: break
        case .asymmetric(let key):
            do {
                if key.isPrivate {
                    switch key.kind {
                    case .ed25519: members.append(("d", .string(Base64URL.encode(try key.ed25519PrivateSeed().bytes))))
                    case .p256: members.append(("d", .string(Base64URL.encode(try key.p256Components().d?.bytes ?? []))))
                    }
                }
            } catch {
                throw JOSEError(.invalidKey, error.message)
            }
        }
        members.append(("alg", .string(algorithm.rawValue)))
        if let id { members.append(("kid", .string(id))) }
        return .object(members)
    }

    /// The private key as PKCS#8 PEM (EdDSA and ES256 keys only).
    public func privatePEM() throws(JOSEError) -> String {
        guard case .asymmetric(let key) = material, key.isPrivate else {
            throw JOSEError(.invalidKey, "only private EdDSA and ES256 keys have a PEM form")
        }
        do {
            return try key.pem(includingPrivate: true)
        } catch {
            throw JOSEError(.invalidKey, error.message)
        }
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(the required members in lexicographic order, no whitespace)).
    public func thumbprint() throws(JOSEError) -> String {
        Base64URL.encode(SHA256.hash(JSON.object(try requiredMembers(includingSecret: true)).bytes))
    }

    /// The members RFC 7638 requires, in lexicographic order.
    private func requiredMembers(includingSecret: Bool) throws(JOSEError) -> [(String, JSON)] {
        switch material {
        case .hmac(_, let secret):
            return [("k", .string(Base64URL.encode(secret.bytes))), ("kty", .string("oct"))]
        case .asymmetric(let key):
            do {
                switch key.kind {
                case .ed25519:
                    return [
                        ("crv", .string("Ed25519")), ("kty", .string("OKP")),
                        ("x", .string(Base64URL.encode(try key.ed25519PublicKey()))),
                    ]
                case .p256:
                    let (x, y, _) = try key.p256Components()
                    return [
                        ("crv", .string("P-256")), ("kty", .string("EC")), ("x", .string(Base64URL.encode(x))),
                        ("y", .string(Base64URL.encode(y))),
                    ]
                }
            } catch {
                throw JOSEError(.invalidKey, error.message)
            }
        }
    }
}
