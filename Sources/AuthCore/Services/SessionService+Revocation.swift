import FoundationEssentials
import Logging

extension SessionService {
    /// What a revocation ended: one session (logout, a session revoked from the list, reuse of a refresh token), or
    /// every session of a user but one, with or without the user's API keys.
    enum Revocation {
        case session(String)
        case user(String, keeping: String?, apiKeys: Bool)

        /// How the log names it.
        var name: String {
            switch self {
            case .session: "session"
            case .user: "user_sessions"
            }
        }
    }

    /// Reads a revocation back after its commit on a Galera node (``Database/holdRevoked(_:live:again:)``): what it
    /// finds unrevoked among the sessions (and, for a user's, the keys) created at or before the revocation (`cutoff`:
    /// a login after it is not touched) is revoked again. A standalone server reads nothing. Outside any transaction.
    func confirm(_ revocation: Revocation, cutoff: Date) throws(AuthError) {
        try database.holdRevoked(
            revocation.name,
            live: { () throws(AuthError) in
                let found = try undone(revocation, cutoff: cutoff)
                return found.sessions.isEmpty && found.keys.isEmpty ? nil : found
            },
            again: { found throws(AuthError) in
                let now = clock.now()
                for id in found.sessions { try revokeFamily(id, now: now) }
                if case .user(let userID, _, _) = revocation {
                    for id in found.keys { _ = try apiKeys.revoke(id, of: userID, now: now) }
                }
            })
    }

    /// ``confirm(_:cutoff:)`` for a request whose answer must not change when the read-back fails (the revocation
    /// committed): the failure is logged (`revocation_read_back_failed`), not thrown.
    func confirmOrLog(_ revocation: Revocation, cutoff: Date) {
        do {
            try confirm(revocation, cutoff: cutoff)
        } catch {
            logger.warning(
                "a revocation could not be read back",
                metadata: [
                    "event": "revocation_read_back_failed", "revocation": "\(revocation.name)",
                    "error": "\(error.logCause)",
                ])
        }
    }

    /// The sessions and keys a revocation should have ended that are live.
    private func undone(_ revocation: Revocation, cutoff: Date) throws(AuthError) -> (sessions: [String], keys: [String]) {
        switch revocation {
        case .session(let id):
            return (try sessions.isUnrevoked(id) ? [id] : [], [])
        case .user(let userID, let keeping, let apiKeysToo):
            return (
                try sessions.unrevoked(of: userID, keeping: keeping ?? "", createdBy: cutoff),
                apiKeysToo ? try apiKeys.unrevoked(of: userID, createdBy: cutoff) : []
            )
        }
    }
}
