public import StrictJSON

/// The keys of one token type: one signing key, and any number of keys that only verify (rotation: tokens signed
/// by the previous key keep verifying until they expire).
public struct KeySet: Sendable {
    /// The key new tokens are signed with.
    public let signingKey: JWTKey
    /// Every key a token may be verified with, the signing key first.
    public let verificationKeys: [JWTKey]

    /// - Throws: ``JOSEError/invalidKey`` when the signing key cannot sign or two keys share a `kid`.
    public init(signingKey: JWTKey, verifyOnly: [JWTKey] = []) throws(JOSEError) {
        guard signingKey.canSign else { throw JOSEError(.invalidKey, "the signing key has no private part") }
        let all = [signingKey] + verifyOnly
        var seen = Set<String>()
        for key in all {
            if let id = key.id, !seen.insert(id).inserted {
                throw JOSEError(.invalidKey, "two keys have the kid '\(id)'")
            }
        }
        self.signingKey = signingKey
        self.verificationKeys = all
    }

    /// The keys a token may have been signed with. `kid` is untrusted: it is only compared, never used otherwise.
    ///
    /// - Throws: ``JOSEError/unsupportedAlgorithm`` when the key named by `kid` is for another algorithm (no key
    ///   confusion); ``JOSEError/signatureInvalid`` when no key fits.
    func candidates(kid: String?, algorithm: JWSAlgorithm) throws(JOSEError) -> [JWTKey] {
        if let kid {
            guard let key = verificationKeys.first(where: { $0.id == kid }) else {
                throw JOSEError(.signatureInvalid, "no key with that kid")
            }
            guard key.algorithm == algorithm else {
                throw JOSEError(.unsupportedAlgorithm, "the key named by kid is for \(key.algorithm.rawValue)")
            }
            return [key]
        }
        let matching = verificationKeys.filter { $0.algorithm == algorithm }
        guard !matching.isEmpty else {
            throw JOSEError(.unsupportedAlgorithm, "no key for \(algorithm.rawValue)")
        }
        return matching
    }

    /// The JWKS document (RFC 7517 §5) of the public keys; HMAC keys never appear.
    public func jwks() throws(JOSEError) -> JSON {
        var keys: [JSON] = []
        for key in verificationKeys {
            if let jwk = try key.publicJWK() { keys.append(jwk) }
        }
        return .object([("keys", .array(keys))])
    }
}
