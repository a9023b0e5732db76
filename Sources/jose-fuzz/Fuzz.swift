import CryptoPrimitives
import Foundation
import FuzzDriver
import JOSE
import StrictJSON

/// The fuzz target for the token parser: any bytes, as a token, through the full verifier and the parsers it uses.
/// Nothing may trap; only a correctly signed token may verify.
///
/// Built two ways (see the README's "Fuzzing"):
/// - with `-sanitize=fuzzer -DFUZZING`: libFuzzer's entry point, run by `scripts/fuzz`;
/// - normally: a replayer that runs the same check on files given as arguments (e.g. a crash libFuzzer saved).
enum FuzzCheck {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let verifiers: [JWTVerifier] = {
        let hmac = try! JWTKey.hmac(secret: SecureBytes([UInt8](repeating: 7, count: 32)), id: "h")
        let ed = try! JWTKey.generate(.edDSA, id: "e")
        let ec = try! JWTKey.generate(.es256, id: "p")
        let rules = ClaimRules(issuer: "jwt-authd", audience: "jwt-authd", leewaySeconds: 0)
        return [
            JWTVerifier(keys: try! KeySet(signingKey: hmac, verifyOnly: [ed, ec]), type: .access, rules: rules),
            JWTVerifier(keys: try! KeySet(signingKey: hmac), type: .refresh, rules: rules),
        ]
    }()

    static func run(_ bytes: [UInt8]) {
        _ = try? JSON.parse(bytes)
        _ = Base64URL.decode(bytes)
        let token = String(decoding: bytes, as: UTF8.self)
        for verifier in verifiers {
            if (try? verifier.verify(token, now: now)) != nil {
                // The keys are fixed and secret to the fuzzer: accepting forged bytes would be a real bug.
                fatalError("the fuzzer forged a valid token: \(token)")
            }
        }
    }
}

#if FUZZING
@_cdecl("jose_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { FuzzCheck.run($0) }
}
#else
@main
enum Replay {
    static func main() throws { try FuzzDriver.replay { FuzzCheck.run($0) } }
}
#endif
