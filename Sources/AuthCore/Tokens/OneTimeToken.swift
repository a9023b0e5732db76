import CryptoPrimitives
import JOSE

/// The single-use tokens mailed in links (reset, verification, email change): 256 random bits as unpadded base64url
/// (43 characters); only their SHA-256 is stored.
enum OneTimeToken {
    /// A new token and the digest to store.
    static func make() -> (token: String, digest: [UInt8]) {
        let token = Base64URL.encode(Random.bytes(32))
        return (token, SHA256.hash(Array(token.utf8)))
    }

    /// The digest to look a presented token up by, or `nil` when it cannot be one of ours (any other length or
    /// alphabet: refused before any database work).
    static func digest(of token: String) -> [UInt8]? {
        guard token.utf8.count == 43, let raw = Base64URL.decode(token), raw.count == 32 else { return nil }
        return SHA256.hash(Array(token.utf8))
    }
}
