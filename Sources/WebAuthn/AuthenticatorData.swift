public import CBOR

/// Authenticator data (WebAuthn §6.1), parsed exactly: the rp id hash, flags, signature counter, then attested
/// credential data when AT is set and an extensions map when ED is set, and nothing after them.
public struct AuthenticatorData: Sendable {
    /// The bytes as received (they are what the signature covers).
    public let bytes: [UInt8]
    public let rpIDHash: [UInt8]
    public let flags: UInt8
    public let signCount: UInt32
    /// Present in registrations (AT).
    public let attestedCredential: AttestedCredential?
    /// The extension outputs (ED), kept as CBOR and otherwise ignored.
    public let extensions: CBOR?

    public var userPresent: Bool { flags & 0x01 != 0 }
    public var userVerified: Bool { flags & 0x04 != 0 }
    /// BE: the credential may be backed up (a synced passkey).
    public var backupEligible: Bool { flags & 0x08 != 0 }
    /// BS: the credential is backed up now.
    public var backupState: Bool { flags & 0x10 != 0 }

    /// The credential a registration creates.
    public struct AttestedCredential: Sendable {
        public let aaguid: [UInt8]
        public let id: [UInt8]
        /// The COSE key's bytes exactly as the authenticator encoded them (stored; parsed again at each use).
        public let publicKeyBytes: [UInt8]
        public let publicKey: COSEKey
    }

    /// Longest credential id (WebAuthn §5.8.3: at most 1023 bytes).
    public static let maxCredentialIDLength = 1023

    /// Parses authenticator data.
    ///
    /// - Throws: ``WebAuthnError`` `.malformed` for short data, a bad credential id length, CBOR that is not
    ///   acceptable, BS without BE, or bytes left over.
    public init(_ bytes: [UInt8]) throws(WebAuthnError) {
        guard bytes.count >= 37 else { throw .malformed("authenticator data is shorter than 37 bytes") }
        self.bytes = bytes
        rpIDHash = Array(bytes[0..<32])
        flags = bytes[32]
        signCount = bytes[33..<37].reduce(0) { $0 << 8 | UInt32($1) }
        guard flags & 0x10 == 0 || flags & 0x08 != 0 else { throw .malformed("the backup state flag is set without backup eligibility") }
        var offset = 37
        if flags & 0x40 != 0 {
            guard bytes.count >= offset + 18 else { throw .malformed("attested credential data is truncated") }
            let aaguid = Array(bytes[offset..<(offset + 16)])
            let idLength = Int(bytes[offset + 16]) << 8 | Int(bytes[offset + 17])
            offset += 18
            guard idLength >= 1, idLength <= Self.maxCredentialIDLength else { throw .malformed("a credential id of \(idLength) bytes") }
            guard bytes.count >= offset + idLength else { throw .malformed("the credential id is truncated") }
            let id = Array(bytes[offset..<(offset + idLength)])
            offset += idLength
            let item: CBOR
            let used: Int
            do {
                (item, used) = try CBOR.decodePrefix(bytes[offset...])
            } catch {
                throw .malformed("the credential public key: \(error.reason)")
            }
            let keyBytes = Array(bytes[offset..<(offset + used)])
            offset += used
            attestedCredential = AttestedCredential(aaguid: aaguid, id: id, publicKeyBytes: keyBytes, publicKey: try COSEKey(item))
        } else {
            attestedCredential = nil
        }
        if flags & 0x80 != 0 {
            guard offset < bytes.count else { throw .malformed("the extensions flag is set without extensions") }
            let item: CBOR
            let used: Int
            do {
                (item, used) = try CBOR.decodePrefix(bytes[offset...])
            } catch {
                throw .malformed("the extensions: \(error.reason)")
            }
            guard item.mapValue != nil else { throw .malformed("the extensions are not a map") }
            extensions = item
            offset += used
        } else {
            extensions = nil
        }
        guard offset == bytes.count else { throw .malformed("\(bytes.count - offset) bytes after the authenticator data") }
    }
}
