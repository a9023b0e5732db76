import CBOR
import CryptoPrimitives
import Foundation
import FuzzDriver
import JOSE
import StrictJSON
import WebAuthn

/// The fuzz target for what a browser sends a relying party: any bytes through the strict CBOR face (over libcbor's
/// decoder), COSE keys, authenticator data, attestation objects and client data, and as an assertion of a credential
/// whose key the fuzzer does not have. Nothing may trap; a decoded item's deterministic encoding decodes and encodes to itself;
/// no assertion may verify.
///
/// Built like jose-fuzz: with `-DFUZZING` libFuzzer's entry point (`scripts/fuzz webauthn`), else a replayer of files.
enum FuzzCheck {
    static let rp = RelyingParty(id: "example.com", name: "Example", origins: ["https://example.com"], userVerification: .discouraged)
    static let challenge = [UInt8](repeating: 0x42, count: 32)
    static let clientData = Array(
        #"{"type":"webauthn.get","challenge":"\#(Base64URL.encode(challenge))","origin":"https://example.com"}"#.utf8)
    /// A P-256 key made here at start: the fuzzer never sees its private part.
    static let stored: RelyingParty.StoredCredential = {
        let key = try! AsymmetricKey.generate(.p256)
        let (x, y, _) = try! key.p256Components()
        let cose = CBOR.map([
            .init(.int(1), .int(2)), .init(.int(3), .int(-7)), .init(.int(-1), .int(1)), .init(.int(-2), .bytes(x)),
            .init(.int(-3), .bytes(y)),
        ])
        return .init(publicKeyBytes: cose.encoded(), signCount: 0, backupEligible: false)
    }()

    static func run(_ bytes: [UInt8]) {
        if let item = try? CBOR.decode(bytes) {
            // Map pairs come back in the deterministic order: the encodings, not the pair lists, must agree.
            let encoded = item.encoded()
            guard let again = try? CBOR.decode(encoded), again.encoded() == encoded else {
                fatalError("a decoded item does not survive re-encoding: \(bytes)")
            }
        }
        _ = try? CBOR.decodePrefix(bytes)
        _ = try? COSEKey(bytes: bytes)
        _ = try? AuthenticatorData(bytes)
        _ = try? AttestationObject(bytes)
        _ = try? ClientData(bytes)
        // As an assertion: the first byte splits the input into authenticator data and a signature.
        guard let first = bytes.first else { return }
        let split = min(Int(first) + 37, bytes.count)
        let json = JSON.object([
            ("id", .string("AAAA")), ("rawId", .string("AAAA")), ("type", .string("public-key")),
            (
                "response",
                .object([
                    ("clientDataJSON", .string(Base64URL.encode(clientData))),
                    ("authenticatorData", .string(Base64URL.encode(bytes[1..<max(split, 1)]))),
                    ("signature", .string(Base64URL.encode(bytes[max(split, 1)...]))),
                ])
            ),
        ])
        if let response = try? AssertionResponse(json: json), (try? rp.verifyAssertion(response, challenge: challenge, credential: stored)) != nil {
            fatalError("the fuzzer forged an assertion: \(bytes)")
        }
    }
}

#if FUZZING
@_cdecl("webauthn_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { FuzzCheck.run($0) }
}
#else
@main
enum Replay {
    static func main() throws { try FuzzDriver.replay { FuzzCheck.run($0) } }
}
#endif
