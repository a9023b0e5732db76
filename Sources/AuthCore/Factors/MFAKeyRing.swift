public import CryptoPrimitives

/// `ID:/path` of one `mfa.encryption_keys` entry.
public struct MFAKeyReference: Sendable, Equatable {
    public let id: String
    public let path: String

    /// `nil` unless `ID:/absolute/path` with an id of 1 to 32 ASCII letters, digits, `-` or `_`.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let id = text[..<colon]
        let path = text[text.index(after: colon)...]
        guard (1...32).contains(id.count),
            id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }),
            path.hasPrefix("/"), path.count > 1
        else { return nil }
        self.id = String(id)
        self.path = String(path)
    }
}

/// The keys that seal second-factor secrets: AES-256-GCM, with the user and factor ids as additional data, so a
/// sealed secret copied to another row (another user, another factor) does not open. The first key seals; every key
/// opens what it sealed, by its id (stored beside the secret), so keys rotate: every host gets the new key first
/// (second place), then it moves first, then `jwt-authd mfa rotate-key` re-seals the old rows.
public struct MFAKeyRing: Sendable {
    public struct Key: Sendable {
        public let id: String
        public let secret: SecureBytes

        public init(id: String, secret: SecureBytes) {
            self.id = id
            self.secret = secret
        }
    }

    public let keys: [Key]

    /// `nil` without keys (MFA is then off: 503 `mfa_unavailable`).
    public init?(keys: [Key]) {
        guard !keys.isEmpty, keys.allSatisfy({ $0.secret.count == 32 }) else { return nil }
        self.keys = keys
    }

    /// The id of the key that seals.
    public var currentID: String { keys[0].id }

    /// `(key id, sealed box)` of `secret`, bound to the factor.
    public func seal(_ secret: SecureBytes, userID: String, factorID: String) -> (keyID: String, box: [UInt8]) {
        (keys[0].id, AESGCM.seal(secret, key: keys[0].secret, additionalData: Self.binding(userID: userID, factorID: factorID)))
    }

    /// The secret, or `nil` when the key is unknown here or the box does not open for this factor.
    public func open(_ box: [UInt8], keyID: String, userID: String, factorID: String) -> SecureBytes? {
        guard let key = keys.first(where: { $0.id == keyID }) else { return nil }
        return AESGCM.open(box, key: key.secret, additionalData: Self.binding(userID: userID, factorID: factorID))
    }

    static func binding(userID: String, factorID: String) -> [UInt8] { Array("jwt-authd mfa v1\u{0}\(userID)\u{0}\(factorID)".utf8) }
}
