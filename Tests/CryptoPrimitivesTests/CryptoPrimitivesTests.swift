import CryptoPrimitives
import Testing

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.filter { !$0.isWhitespace }.makeIterator()
    while let high = iterator.next(), let low = iterator.next() { bytes.append(UInt8(String([high, low]), radix: 16)!) }
    return bytes
}

@Suite struct HashAndMACTests {
    @Test func sha256KnownAnswer() {
        #expect(SHA256.hash(Array("abc".utf8)) == hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
    }

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block size).
    @Test(arguments: [
        (
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", Array("Hi There".utf8),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        (
            "4a656665", Array("what do ya want for nothing?".utf8),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        (
            String(repeating: "aa", count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
    ])
    func hmacSHA256KnownAnswers(key: String, message: [UInt8], mac: String) {
        let hmac = HMACSHA256Key(secret: SecureBytes(hex(key)))
        #expect(hmac.authenticationCode(for: message) == hex(mac))
        #expect(message.withUnsafeBytes { hmac.isValid(hex(mac), for: $0) })
        var wrong = hex(mac)
        wrong[31] ^= 1
        #expect(!message.withUnsafeBytes { hmac.isValid(wrong, for: $0) })
        #expect(!message.withUnsafeBytes { hmac.isValid(Array(hex(mac).prefix(31)), for: $0) })
    }

    /// RFC 5869 test cases 1 and 3 (no salt, no info).
    @Test func hkdfSHA256KnownAnswers() {
        let secret = SecureBytes([UInt8](repeating: 0x0b, count: 22))
        let one = HKDF.sha256(secret: secret, salt: Array(0x00...0x0c), info: Array(0xf0...0xf9), count: 42)
        #expect(one.bytes == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
        let three = HKDF.sha256(secret: secret, salt: [], info: [], count: 42)
        #expect(three.bytes == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
        // Another purpose, another key.
        #expect(
            HKDF.sha256(secret: secret, salt: [], info: Array("a".utf8)).bytes != HKDF.sha256(secret: secret, salt: [], info: Array("b".utf8)).bytes)
    }

    @Test func reusedKeyGivesIndependentResults() {
        let hmac = HMACSHA256Key(secret: SecureBytes(randomCount: 32))
        let first = hmac.authenticationCode(for: [1, 2, 3])
        _ = hmac.authenticationCode(for: [4, 5, 6])
        #expect(hmac.authenticationCode(for: [1, 2, 3]) == first)
    }

    @Test func constantTimeEquals() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }

    @Test func randomBytesDiffer() {
        #expect(Random.bytes(32) != Random.bytes(32))
        #expect(Random.bytes(0).isEmpty)
    }
}

@Suite struct SignatureTests {
    /// RFC 8032 7.1, test 1 (empty message).
    @Test func ed25519KnownAnswer() throws {
        let key = try AsymmetricKey.ed25519(privateSeed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(try key.ed25519PublicKey() == hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let signature = try [UInt8]().withUnsafeBytes { try key.sign($0) }
        #expect(
            signature
                == hex(
                    """
                    e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b
                    """))
        let verifier = try AsymmetricKey.ed25519(publicKey: try key.ed25519PublicKey())
        #expect(!verifier.isPrivate)
        #expect(signature.withUnsafeBytes { s in [UInt8]().withUnsafeBytes { verifier.isValidSignature(s, for: $0) } })
    }

    @Test(arguments: [AsymmetricKey.Kind.ed25519, .p256])
    func signVerifyAndTamper(kind: AsymmetricKey.Kind) throws {
        let key = try AsymmetricKey.generate(kind)
        let message = Array("header.payload".utf8)
        let signature = try message.withUnsafeBytes { try key.sign($0) }
        #expect(signature.count == 64)
        func verifies(_ sig: [UInt8], _ msg: [UInt8]) -> Bool {
            sig.withUnsafeBytes { s in msg.withUnsafeBytes { key.isValidSignature(s, for: $0) } }
        }
        #expect(verifies(signature, message))
        var flipped = signature
        flipped[10] ^= 0x40
        #expect(!verifies(flipped, message))
        #expect(!verifies(signature, message + [0]))
        #expect(!verifies(Array(signature.prefix(63)), message))
        #expect(!verifies([UInt8](repeating: 0, count: 64), message))
    }

    @Test func pemRoundTripKeepsTheKey() throws {
        for kind in [AsymmetricKey.Kind.ed25519, .p256] {
            let key = try AsymmetricKey.generate(kind)
            let privatePEM = try key.pem(includingPrivate: true)
            #expect(privatePEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
            let publicPEM = try key.pem(includingPrivate: false)
            #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            let reloaded = try AsymmetricKey.pem(privatePEM)
            #expect(reloaded.isPrivate)
            let publicOnly = try AsymmetricKey.pem(publicPEM)
            #expect(!publicOnly.isPrivate)
            let message = Array("m".utf8)
            let signature = try message.withUnsafeBytes { try reloaded.sign($0) }
            #expect(signature.withUnsafeBytes { s in message.withUnsafeBytes { publicOnly.isValidSignature(s, for: $0) } })
        }
        #expect(throws: CryptoError.self) { try AsymmetricKey.pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n") }
    }

    @Test func p256ComponentsRoundTripAndOffCurvePointsAreRefused() throws {
        let key = try AsymmetricKey.generate(.p256)
        let (x, y, d) = try key.p256Components()
        let rebuilt = try AsymmetricKey.p256(x: x, y: y, d: d?.bytes)
        #expect(try rebuilt.p256Components().x == x)
        var badY = y
        badY[31] ^= 1
        #expect(throws: CryptoError.self) { try AsymmetricKey.p256(x: x, y: badY) }
        let other = try AsymmetricKey.generate(.p256).p256Components()
        #expect(throws: CryptoError.self) { try AsymmetricKey.p256(x: x, y: y, d: other.d?.bytes) }
    }

    @Test func publicKeysCannotSign() throws {
        let key = try AsymmetricKey.ed25519(publicKey: try AsymmetricKey.generate(.ed25519).ed25519PublicKey())
        #expect(throws: CryptoError.self) { try [UInt8]().withUnsafeBytes { try key.sign($0) } }
    }
}
