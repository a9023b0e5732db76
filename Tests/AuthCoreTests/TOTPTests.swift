import CryptoPrimitives
import Foundation
import Testing

@testable import AuthCore

/// RFC 6238's own vectors, an independent implementation (Debian's `oathtool`) at chosen times, skew and replay.
@Suite struct TOTPTests {
    static let sha1Seed = SecureBytes(Array("12345678901234567890".utf8))
    static let sha256Seed = SecureBytes(Array("12345678901234567890123456789012".utf8))
    static let sha512Seed = SecureBytes(Array("1234567890123456789012345678901234567890123456789012345678901234".utf8))

    @Test(arguments: [
        (59.0, "94287082", "46119246", "90693936"), (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"), (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"), (20_000_000_000, "65353130", "77737706", "47863826"),
    ])
    func rfc6238AppendixB(time: Double, sha1: String, sha256: String, sha512: String) {
        let date = Date(timeIntervalSince1970: time)
        for (seed, digest, expected) in [
            (Self.sha1Seed, HMAC.Digest.sha1, sha1), (Self.sha256Seed, .sha256, sha256), (Self.sha512Seed, .sha512, sha512),
        ] {
            let totp = TOTP(secret: seed, digest: digest, digits: 8)
            #expect(totp.code(step: totp.step(at: date)) == expected, "\(digest) at \(time)")
            #expect(totp.verify(expected, at: date, skew: 0) == totp.step(at: date))
        }
    }

    @Test func skewAndReplay() {
        let totp = TOTP(secret: Self.sha1Seed)
        let now = Date(timeIntervalSince1970: 1_800_000_015)
        let step = totp.step(at: now)
        let previous = totp.code(step: step - 1)
        let next = totp.code(step: step + 1)
        #expect(totp.verify(previous, at: now) == step - 1, "one step of clock skew either way")
        #expect(totp.verify(next, at: now) == step + 1)
        #expect(totp.verify(totp.code(step: step - 2), at: now) == nil)
        #expect(totp.verify(previous, at: now, skew: 0) == nil)
        // A code is accepted once; after a newer one, an older one is refused too.
        #expect(totp.verify(totp.code(step: step), at: now, after: step) == nil)
        #expect(totp.verify(previous, at: now, after: step) == nil)
        #expect(totp.verify(next, at: now, after: step) == step + 1)
        for junk in ["", "12345", "1234567", "12345a", " 123456", "１２３４５６", "-12345"] {
            #expect(totp.verify(junk, at: now) == nil, "\(junk)")
        }
    }

    @Test func theURIAndBase32() throws {
        let totp = TOTP(secret: Self.sha1Seed)
        #expect(Base32.encode(Self.sha1Seed.bytes) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(Base32.decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == Self.sha1Seed.bytes)
        #expect(Base32.decode("GEZDGNBV1") == nil)
        for length in 0...21 {
            let bytes = (0..<length).map { UInt8($0 * 37 & 0xFF) }
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
        }
        #expect(
            totp.uri(issuer: "Example Site", account: "ann+x@example.com")
                == "otpauth://totp/Example%20Site:ann%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Site&algorithm=SHA1&digits=6&period=30"
        )
    }

    /// Debian's oathtool (liboath), an implementation written apart from this one, at chosen times.
    @Test func oathtoolAgrees() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/oathtool") else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("oathtool is missing (apt-get install oathtool)") }
            return
        }
        for (digest, name) in [(HMAC.Digest.sha1, "sha1"), (.sha256, "sha256"), (.sha512, "sha512")] {
            let secret = SecureBytes(randomCount: 20)
            let totp = TOTP(secret: secret, digest: digest, digits: 6, period: 30)
            for time in [0, 59, 1_111_111_111, 1_800_000_000, Int(Date().timeIntervalSince1970), 4_102_444_800] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/oathtool")
                process.arguments = [
                    "--totp=\(name)", "--base32", "--digits=6", "--time-step-size=30s", "--now=@\(time)", Base32.encode(secret.bytes),
                ]
                let output = Pipe()
                process.standardOutput = output
                try process.run()
                process.waitUntilExit()
                let theirs = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(theirs == totp.code(step: totp.step(at: Date(timeIntervalSince1970: Double(time)))), "\(name) at \(time)")
            }
        }
    }
}
