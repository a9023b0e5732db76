public import CBOR
import CryptoPrimitives

/// An attestation object (WebAuthn §6.5): `fmt`, `attStmt` and `authData`, nothing else. Formats: `none`, and `packed`
/// (self attestation, or an attestation certificate whose signature is checked; the certificate is not trusted:
/// attestation trust is out of scope, as the security guide says).
public struct AttestationObject: Sendable {
    public let format: String
    public let statement: CBOR
    public let authData: AuthenticatorData

    /// Longest attestation object accepted (certificates included).
    public static let maxLength = 16384

    public init(_ bytes: [UInt8]) throws(WebAuthnError) {
        guard bytes.count <= Self.maxLength else { throw .malformed("the attestation object is longer than \(Self.maxLength) bytes") }
        let item: CBOR
        do { item = try CBOR.decode(bytes) } catch { throw .malformed("the attestation object: \(error.reason)") }
        guard let pairs = item.mapValue, pairs.count == 3, let format = item[text: "fmt"]?.textValue,
            let statement = item[text: "attStmt"], statement.mapValue != nil, let authData = item[text: "authData"]?.bytesValue
        else { throw .malformed("the attestation object needs exactly fmt, attStmt and authData") }
        self.format = format
        self.statement = statement
        self.authData = try AuthenticatorData(authData)
    }

    /// Checks the attestation statement (§8.2, §8.7).
    func verify(clientDataHash: [UInt8], credential: AuthenticatorData.AttestedCredential) throws(WebAuthnError) {
        switch format {
        case "none":
            guard statement.mapValue?.isEmpty == true else { throw .malformed("a none attestation with a statement") }
        case "packed":
            guard let alg = statement[text: "alg"]?.intValue, let signature = statement[text: "sig"]?.bytesValue else {
                throw .malformed("a packed attestation needs alg and sig")
            }
            let signed = authData.bytes + clientDataHash
            if let chain = statement[text: "x5c"] {
                guard statement.mapValue?.count == 3, case .array(let certificates) = chain, let leaf = certificates.first?.bytesValue else {
                    throw .malformed("a packed attestation's x5c is not a list of certificates")
                }
                guard let algorithm = COSEAlgorithm(rawValue: alg) else { throw .unsupported("attestation algorithm \(alg) is not supported") }
                let key: VerifyingKey
                do { key = try VerifyingKey.certificate(leaf, algorithm: algorithm.verifyingAlgorithm) } catch {
                    throw .malformed("the attestation certificate: \(error.message)")
                }
                guard key.isValidSignature(signature, for: signed) else { throw .refused("the attestation signature is invalid") }
            } else {
                guard statement.mapValue?.count == 2 else { throw .malformed("a packed self attestation has only alg and sig") }
                guard alg == credential.publicKey.algorithm.rawValue else {
                    throw .refused("a self attestation's algorithm differs from the credential's")
                }
                guard credential.publicKey.verifier.isValidSignature(signature, for: signed) else {
                    throw .refused("the self attestation signature is invalid")
                }
            }
        default:
            throw .unsupported("attestation format \(format) is not supported (this site asks for none)")
        }
    }
}

extension COSEAlgorithm {
    var verifyingAlgorithm: VerifyingKey.Algorithm {
        switch self {
        case .es256: .es256
        case .edDSA: .ed25519
        case .rs256: .rs256
        }
    }
}
