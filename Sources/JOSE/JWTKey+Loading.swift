import CryptoPrimitives
public import StrictJSON

extension JWTKey {
    /// A key from a JWK object: `oct` (HS256), `OKP`/`Ed25519` (EdDSA) or `EC`/`P-256` (ES256), public or private.
    ///
    /// - Parameter id: Overrides the JWK's `kid`.
    /// - Throws: ``JOSEError/invalidKey`` naming what is wrong (never the key material).
    public static func jwk(_ jwk: JSON, id: String? = nil) throws(JOSEError) -> JWTKey {
        func fail(_ reason: String) -> JOSEError { JOSEError(.invalidKey, "JWK: \(reason)") }
        guard case .object = jwk else { throw fail("not a JSON object") }
        func text(_ name: String) throws(JOSEError) -> String? {
            guard let value = jwk[name] else { return nil }
            guard let text = value.stringValue else { throw fail("'\(name)' must be a string") }
            return text
        }
        func bytes(_ name: String, count: Int? = nil) throws(JOSEError) -> [UInt8]? {
            guard let encoded = try text(name) else { return nil }
            guard let decoded = Base64URL.decode(encoded) else { throw fail("'\(name)' is not base64url") }
            if let count, decoded.count != count { throw fail("'\(name)' must have \(count) bytes") }
            return decoded
        }
        if let use = try text("use"), use != "sig" { throw fail("'use' must be 'sig'") }
        let kid: String?
        if let id { kid = id } else { kid = try text("kid") }
        let declared = try text("alg")
        let key: JWTKey
        switch try text("kty") {
        case "oct":
            guard let secret = try bytes("k") else { throw fail("an oct key needs 'k'") }
            key = try hmac(secret: SecureBytes(secret), id: kid)
        case "OKP":
            guard try text("crv") == "Ed25519" else { throw fail("only the Ed25519 curve is supported for OKP") }
            guard let x = try bytes("x", count: 32) else { throw fail("an OKP key needs 'x'") }
            do {
                let material = try AsymmetricKey.ed25519(privateSeed: try bytes("d", count: 32), publicKey: x)
                key = try asymmetric(material, id: kid)
            } catch let error as JOSEError {
                throw error
            } catch {
                throw fail("\(error)")
            }
        case "EC":
            guard try text("crv") == "P-256" else { throw fail("only the P-256 curve is supported for EC") }
            guard let x = try bytes("x", count: 32), let y = try bytes("y", count: 32) else { throw fail("an EC key needs 'x' and 'y'") }
            do {
                key = try asymmetric(try AsymmetricKey.p256(x: x, y: y, d: try bytes("d", count: 32)), id: kid)
            } catch let error as JOSEError {
                throw error
            } catch {
                throw fail("\(error)")
            }
        case let other:
            throw fail("unsupported kty '\(other ?? "missing")' (oct, OKP or EC)")
        }
        if let declared, declared != key.algorithm.rawValue {
            throw fail("'alg' is \(declared) but the key is for \(key.algorithm.rawValue)")
        }
        return key
    }

    /// A key from a key file's text: a JWK (JSON) or PEM (PKCS#8 private / SubjectPublicKeyInfo public key).
    ///
    /// - Throws: ``JOSEError/invalidKey``.
    public static func load(fileText text: String, id: String? = nil) throws(JOSEError) -> JWTKey {
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.hasPrefix("{") {
            let json: JSON
            do {
                json = try JSON.parse(Array(trimmed.utf8))
            } catch {
                throw JOSEError(.invalidKey, "the key file is not valid JSON (\(error.code))")
            }
            return try jwk(json, id: id)
        }
        if trimmed.hasPrefix("-----BEGIN") {
            do {
                return try asymmetric(try AsymmetricKey.pem(text), id: id)
            } catch let error as JOSEError {
                throw error
            } catch {
                throw JOSEError(.invalidKey, "\(error)")
            }
        }
        throw JOSEError(.invalidKey, "a key file must hold a JWK (JSON) or a PEM key")
    }

    /// A new random key for `algorithm` (HS256: 64 random bytes).
    public static func generate(_ algorithm: JWSAlgorithm, id: String? = nil) throws(JOSEError) -> JWTKey {
        switch algorithm {
        case .hs256:
            return try hmac(secret: SecureBytes(randomCount: 64), id: id)
        case .edDSA, .es256:
            do {
                return try asymmetric(try AsymmetricKey.generate(algorithm == .edDSA ? .ed25519 : .p256), id: id)
            } catch let error as JOSEError {
                throw error
            } catch {
                throw JOSEError(.invalidKey, "\(error)")
            }
        }
    }
}
