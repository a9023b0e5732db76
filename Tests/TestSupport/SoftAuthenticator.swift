public import CBOR
public import CryptoPrimitives
import JOSE
public import StrictJSON

/// A software authenticator and browser for tests: makes registrations and assertions the way a CTAP2 authenticator
/// and `PublicKeyCredential.toJSON()` would, with every part open to tampering.
public struct SoftAuthenticator {
    public enum Algorithm: Sendable {
        case es256
        case ed25519
    }

    public let key: AsymmetricKey
    public let algorithm: Algorithm
    public let credentialID: [UInt8]
    public var signCount: UInt32 = 0
    public var aaguid = [UInt8](repeating: 0xAA, count: 16)

    public static let up: UInt8 = 0x01
    public static let uv: UInt8 = 0x04
    public static let be: UInt8 = 0x08
    public static let bs: UInt8 = 0x10
    public static let at: UInt8 = 0x40
    public static let ed: UInt8 = 0x80

    public init(_ algorithm: Algorithm = .es256, credentialID: [UInt8] = Random.bytes(16)) throws {
        self.algorithm = algorithm
        key = try AsymmetricKey.generate(algorithm == .es256 ? .p256 : .ed25519)
        self.credentialID = credentialID
    }

    public var coseKey: CBOR {
        get throws {
            switch algorithm {
            case .es256:
                let (x, y, _) = try key.p256Components()
                return .map([
                    .init(.int(1), .int(2)), .init(.int(3), .int(-7)), .init(.int(-1), .int(1)), .init(.int(-2), .bytes(x)),
                    .init(.int(-3), .bytes(y)),
                ])
            case .ed25519:
                return .map([
                    .init(.int(1), .int(1)), .init(.int(3), .int(-8)), .init(.int(-1), .int(6)),
                    .init(.int(-2), .bytes(try key.ed25519PublicKey())),
                ])
            }
        }
    }

    /// Authenticator data: rp id hash, flags, counter, and for a registration the attested credential data.
    public func authenticatorData(rpID: String, flags: UInt8, signCount: UInt32, attested: Bool, cose: CBOR? = nil, extensions: CBOR? = nil)
        throws -> [UInt8]
    {
        var out = SHA256.hash(Array(rpID.utf8))
        out.append(flags | (attested ? Self.at : 0) | (extensions != nil ? Self.ed : 0))
        out += [UInt8(signCount >> 24 & 0xFF), UInt8(signCount >> 16 & 0xFF), UInt8(signCount >> 8 & 0xFF), UInt8(signCount & 0xFF)]
        if attested {
            out += aaguid
            out += [UInt8(credentialID.count >> 8), UInt8(credentialID.count & 0xFF)]
            out += credentialID
            out += try (cose ?? coseKey).encoded()
        }
        if let extensions { out += extensions.encoded() }
        return out
    }

    /// The signature over `authData || SHA-256(clientData)` in WebAuthn's form (DER for ECDSA).
    public func sign(_ authData: [UInt8], _ clientData: [UInt8]) throws -> [UInt8] {
        let raw = try key.sign(authData + SHA256.hash(clientData))
        return algorithm == .es256 ? Self.der(raw) : raw
    }

    /// ECDSA r || s → DER SEQUENCE { INTEGER r, INTEGER s }.
    public static func der(_ raw: [UInt8]) -> [UInt8] {
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop { $0 == 0 })
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        let body = integer(raw[0..<32]) + integer(raw[32..<64])
        return [0x30, UInt8(body.count)] + body
    }

    public static func clientData(type: String, challenge: [UInt8], origin: String, extra: String = "") -> [UInt8] {
        Array(#"{"type":"\#(type)","challenge":"\#(Base64URL.encode(challenge))","origin":"\#(origin)","crossOrigin":false\#(extra)}"#.utf8)
    }

    /// The parts of a registration, before they are put together (tests change any of them).
    public struct Registration {
        public var clientData: [UInt8]
        public var authData: [UInt8]
        public var format = "none"
        public var statement = CBOR.map([])
        public var rawID: [UInt8]
        public var extraMembers: [CBOR.Pair] = []

        public init(clientData: [UInt8], authData: [UInt8], rawID: [UInt8]) {
            self.clientData = clientData
            self.authData = authData
            self.rawID = rawID
        }

        public var attestationObject: [UInt8] {
            CBOR.map(
                [.init(.text("fmt"), .text(format)), .init(.text("attStmt"), statement), .init(.text("authData"), .bytes(authData))] + extraMembers
            )
            .encoded()
        }

        public var json: JSON {
            .object([
                ("id", .string(Base64URL.encode(rawID))), ("rawId", .string(Base64URL.encode(rawID))), ("type", .string("public-key")),
                (
                    "response",
                    .object([
                        ("clientDataJSON", .string(Base64URL.encode(clientData))),
                        ("attestationObject", .string(Base64URL.encode(attestationObject))),
                        ("transports", .array([.string("internal"), .string("hybrid"), .string("carrier-pigeon")])),
                    ])
                ),
                ("clientExtensionResults", .object([])),
            ])
        }
    }

    public func registration(
        rpID: String = "example.com", origin: String = "https://example.com", challenge: [UInt8], flags: UInt8 = up | uv,
        packed: Bool = false
    ) throws -> Registration {
        let clientData = Self.clientData(type: "webauthn.create", challenge: challenge, origin: origin)
        let authData = try authenticatorData(rpID: rpID, flags: flags, signCount: signCount, attested: true)
        var registration = Registration(clientData: clientData, authData: authData, rawID: credentialID)
        if packed {
            registration.format = "packed"
            registration.statement = .map([
                .init(.text("alg"), .int(algorithm == .es256 ? -7 : -8)), .init(.text("sig"), .bytes(try sign(authData, clientData))),
            ])
        }
        return registration
    }

    public struct Assertion {
        public var clientData: [UInt8]
        public var authData: [UInt8]
        public var signature: [UInt8]
        public var rawID: [UInt8]
        public var userHandle: [UInt8]?

        public init(clientData: [UInt8], authData: [UInt8], signature: [UInt8], rawID: [UInt8], userHandle: [UInt8]?) {
            self.clientData = clientData
            self.authData = authData
            self.signature = signature
            self.rawID = rawID
            self.userHandle = userHandle
        }

        public var json: JSON {
            .object([
                ("id", .string(Base64URL.encode(rawID))), ("rawId", .string(Base64URL.encode(rawID))), ("type", .string("public-key")),
                (
                    "response",
                    .object([
                        ("clientDataJSON", .string(Base64URL.encode(clientData))),
                        ("authenticatorData", .string(Base64URL.encode(authData))), ("signature", .string(Base64URL.encode(signature))),
                        ("userHandle", userHandle.map { .string(Base64URL.encode($0)) } ?? .null),
                    ])
                ),
            ])
        }
    }

    /// An assertion; the counter goes up by one first (unless it stays 0, as for passkeys that do not count).
    public mutating func assertion(
        rpID: String = "example.com", origin: String = "https://example.com", challenge: [UInt8], flags: UInt8 = up | uv,
        counting: Bool = true, userHandle: [UInt8]? = nil
    ) throws -> Assertion {
        if counting { signCount += 1 }
        let clientData = Self.clientData(type: "webauthn.get", challenge: challenge, origin: origin)
        let authData = try authenticatorData(rpID: rpID, flags: flags, signCount: signCount, attested: false)
        return Assertion(
            clientData: clientData, authData: authData, signature: try sign(authData, clientData), rawID: credentialID, userHandle: userHandle)
    }
}
