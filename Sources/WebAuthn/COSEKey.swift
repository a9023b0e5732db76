public import CBOR
public import CryptoPrimitives

/// COSE algorithm identifiers this relying party accepts (IANA COSE Algorithms).
public enum COSEAlgorithm: Int64, Sendable, CaseIterable {
    /// ECDSA with SHA-256 on P-256.
    case es256 = -7
    /// EdDSA (Ed25519).
    case edDSA = -8
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rs256 = -257
}

/// A credential public key in its COSE_Key form (RFC 9052 §7, RFC 9053): EC2 P-256 for ES256, OKP Ed25519 for EdDSA,
/// RSA for RS256. The key type, curve and algorithm must agree; compressed points and private parts are refused.
public struct COSEKey: Sendable {
    public let algorithm: COSEAlgorithm
    /// The key, ready to check signatures.
    public let verifier: VerifyingKey

    // COSE labels and values.
    static let kty: Int64 = 1
    static let alg: Int64 = 3
    static let crv: Int64 = -1
    static let x: Int64 = -2
    static let y: Int64 = -3
    static let d: Int64 = -4
    static let rsaN: Int64 = -1
    static let rsaE: Int64 = -2
    static let ktyOKP: Int64 = 1
    static let ktyEC2: Int64 = 2
    static let ktyRSA: Int64 = 3
    static let crvP256: Int64 = 1
    static let crvEd25519: Int64 = 6

    /// Parses and checks a COSE key.
    ///
    /// - Throws: ``WebAuthnError`` `.malformed` (not a COSE key, wrong lengths, a point off the curve) or
    ///   `.unsupported` (another algorithm, key type or curve).
    public init(_ item: CBOR) throws(WebAuthnError) {
        guard item.mapValue != nil else { throw .malformed("the credential public key is not a COSE key (a map)") }
        guard let kty = item[int: Self.kty]?.intValue else { throw .malformed("the COSE key has no key type") }
        guard let algValue = item[int: Self.alg]?.intValue else { throw .malformed("the COSE key has no algorithm") }
        guard let algorithm = COSEAlgorithm(rawValue: algValue) else { throw .unsupported("COSE algorithm \(algValue) is not supported") }
        self.algorithm = algorithm
        do {
            switch (algorithm, kty) {
            case (.es256, Self.ktyEC2):
                guard item[int: Self.crv]?.intValue == Self.crvP256 else { throw WebAuthnError.unsupported("ES256 needs the P-256 curve") }
                guard item[int: Self.d] == nil else { throw WebAuthnError.malformed("the COSE key holds a private part") }
                guard let x = item[int: Self.x]?.bytesValue, let y = item[int: Self.y]?.bytesValue, x.count == 32, y.count == 32 else {
                    throw WebAuthnError.malformed("a P-256 key needs x and y of 32 bytes (compressed points are refused)")
                }
                verifier = try VerifyingKey.es256(x: x, y: y)
            case (.edDSA, Self.ktyOKP):
                guard item[int: Self.crv]?.intValue == Self.crvEd25519 else { throw WebAuthnError.unsupported("EdDSA needs the Ed25519 curve") }
                guard item[int: Self.d] == nil else { throw WebAuthnError.malformed("the COSE key holds a private part") }
                guard let x = item[int: Self.x]?.bytesValue, x.count == 32 else { throw WebAuthnError.malformed("an Ed25519 key has 32 bytes") }
                verifier = try VerifyingKey.ed25519(publicKey: x)
            case (.rs256, Self.ktyRSA):
                guard let n = item[int: Self.rsaN]?.bytesValue, let e = item[int: Self.rsaE]?.bytesValue else {
                    throw WebAuthnError.malformed("an RSA key needs n and e")
                }
                verifier = try VerifyingKey.rs256(modulus: n, exponent: e)
            default:
                throw WebAuthnError.malformed("the COSE key type \(kty) does not match algorithm \(algValue)")
            }
        } catch let error as WebAuthnError {
            throw error
        } catch let error as CryptoError {
            throw .malformed("the credential public key is invalid: \(error.message)")
        } catch {
            throw .malformed("the credential public key is invalid")
        }
    }

    /// Parses the stored (or received) CBOR bytes of a COSE key.
    public init(bytes: [UInt8]) throws(WebAuthnError) {
        let item: CBOR
        do { item = try CBOR.decode(bytes) } catch { throw .malformed("the credential public key: \(error.reason)") }
        try self.init(item)
    }
}
