import CryptoPrimitives
import Locking

/// Access tokens this process has verified, found again by the SHA-256 of the token's bytes.
///
/// The gate sees the same access token on every request of a signed-in browser or API client until it expires, and
/// checking it again (base64url, two JSON documents, the signature, the claims) costs several times a lookup. What a
/// hit answers is what the full check would: the same bytes were verified with the same keys (one set per
/// ``AuthSettings``, which owns this), so only the checks that depend on the moment can differ, and a hit repeats
/// them (`exp`, and `nbf` and `iat`, with the same leeway). Only tokens that passed are kept; a refusal is never
/// stored, so invalid tokens cannot fill it. Keys are digests, not tokens (a memory dump holds no usable
/// credential from here), and a lookup compares digests of the caller's own token only.
///
/// Bounded: at `capacity` entries the expired ones go, and if that leaves it more than three quarters full, about
/// half of the rest go too, chosen by one bit of their digest (another bit each sweep, so no token stays out for
/// good): the tokens dropped pay one full check again, memory never grows past `capacity`, and a sweep comes at
/// most once per quarter of `capacity` new entries.
///
/// Shared by the threads of a process behind a reader-writer lock (``ReadWriteLocked``): lookups, nearly every use,
/// share it; a new entry, a sweep or a forgotten entry takes it alone. Behind a `Mutex` it was a convoy: with one
/// process of 104 threads on 2 CPUs and both nginx workers sending, a thread preempted while holding it stopped every
/// lookup, and the verify route ran at 0.81–0.86 of the C responder instead of 1.04 (bench/README.md).
final class VerifiedAccessTokens: Sendable {
    /// What a hit answers, and the window in which it may (seconds since 1970, the leeway applied).
    struct Entry: Sendable {
        let claims: AccessClaims
        let validFrom: Double
        let validUntil: Double
    }

    /// A SHA-256 digest as four words: cheap to hash and to compare.
    struct Digest: Hashable, Sendable {
        let words: (UInt64, UInt64, UInt64, UInt64)

        init(of token: String) {
            let bytes = SHA256.hash(token.utf8)
            func word(_ at: Int) -> UInt64 { bytes[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
            words = (word(0), word(8), word(16), word(24))
        }

        static func == (left: Digest, right: Digest) -> Bool { left.words == right.words }

        func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(words.2)
            hasher.combine(words.3)
        }
    }

    let capacity: Int
    private let state: ReadWriteLocked<(entries: [Digest: Entry], sweeps: Int)>

    init(capacity: Int = 2048) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        state = ReadWriteLocked(([:], 0))
    }

    /// The entry of `digest`, when there is one.
    func entry(_ digest: Digest) -> Entry? {
        state.read { $0.entries[digest] }
    }

    /// Keeps `entry` for `digest`, making room first when full (the entries expired at time `now`, then about half of
    /// the others when still more than three quarters full).
    func keep(_ entry: Entry, for digest: Digest, now: Double) {
        let capacity = capacity
        state.write { state in
            if state.entries.count >= capacity, state.entries[digest] == nil {
                state.entries = state.entries.filter { $0.value.validUntil > now }
                if state.entries.count > capacity * 3 / 4 {
                    let bit = UInt64(state.sweeps % 64)
                    state.sweeps += 1
                    state.entries = state.entries.filter { ($0.key.words.0 >> bit) & 1 == 0 }
                    // (Digests are SHA-256: about half stay. Should a quarter or more still be left over the three
                    // quarters, which only a ground-out set of valid tokens could do, all go: the bound holds.)
                    if state.entries.count > capacity * 3 / 4 { state.entries.removeAll(keepingCapacity: true) }
                }
            }
            state.entries[digest] = entry
        }
    }

    /// Forgets `digest` (an entry found expired).
    func forget(_ digest: Digest) {
        _ = state.write { $0.entries.removeValue(forKey: digest) }
    }

    /// The number of entries (for tests).
    var count: Int { state.read { $0.entries.count } }
}
