import Testing

@testable import CryptoPrimitives

@Suite struct SymmetricCryptoTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
        }
        return bytes
    }

    static func hexString(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    @Test func hmacMatchesTheRFCVectors() {
        // RFC 2202 test case 1 (SHA-1), RFC 4231 test case 1 (SHA-256, SHA-512).
        let key = SecureBytes([UInt8](repeating: 0x0b, count: 20))
        let message = Array("Hi There".utf8)
        #expect(
            Self.hexString(HMAC.authenticate(message, key: SecureBytes([UInt8](repeating: 0x0b, count: 20)), digest: .sha1))
                == "b617318655057264e28bc0b6fb378c8ef146be00")
        #expect(
            Self.hexString(HMAC.authenticate(message, key: key, digest: .sha256))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            Self.hexString(HMAC.authenticate(message, key: key, digest: .sha512))
                == "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")
        // RFC 4231 test case 2: a short key, and an empty message does not trap.
        #expect(
            Self.hexString(HMAC.authenticate(Array("what do ya want for nothing?".utf8), key: SecureBytes(Array("Jefe".utf8)), digest: .sha256))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(HMAC.authenticate([], key: SecureBytes([]), digest: .sha1).count == 20)
    }

    @Test func aesGCMOpensTheGCMSpecVectorAndItsOwnBoxes() throws {
        // The GCM specification's test case 14: key and nonce zero, one zero block.
        let zeroKey = SecureBytes([UInt8](repeating: 0, count: 32))
        let box = [UInt8](repeating: 0, count: 12) + Self.hex("cea7403d4d606b6e074ec5d3baf39d18") + Self.hex("d0d1c8a799996bf0265b98b5d48ab919")
        #expect(try #require(AESGCM.open(box, key: zeroKey, additionalData: [])).bytes == [UInt8](repeating: 0, count: 16))

        let key = SecureBytes(randomCount: 32)
        let secret = SecureBytes(Array("a TOTP secret of 20 bytes".utf8))
        let aad = Array("user-1/factor-1".utf8)
        let sealed = AESGCM.seal(secret, key: key, additionalData: aad)
        #expect(sealed.count == secret.count + AESGCM.overhead)
        #expect(AESGCM.seal(secret, key: key, additionalData: aad) != sealed, "a fresh nonce each time")
        #expect(try #require(AESGCM.open(sealed, key: key, additionalData: aad)).bytes == secret.bytes)
        // Any change is refused: each byte of the box, the additional data (another user or factor), the key.
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(AESGCM.open(tampered, key: key, additionalData: aad) == nil, "byte \(index)")
        }
        #expect(AESGCM.open(sealed, key: key, additionalData: Array("user-2/factor-1".utf8)) == nil)
        #expect(AESGCM.open(sealed, key: SecureBytes(randomCount: 32), additionalData: aad) == nil)
        #expect(AESGCM.open(Array(sealed.prefix(27)), key: key, additionalData: aad) == nil, "too short to be a box")
        #expect(AESGCM.open(sealed, key: SecureBytes(randomCount: 16), additionalData: aad) == nil, "not an AES-256 key")
        // An empty plaintext seals and opens too.
        let empty = AESGCM.seal(SecureBytes([]), key: key, additionalData: [])
        #expect(try #require(AESGCM.open(empty, key: key, additionalData: [])).count == 0)
    }
}
