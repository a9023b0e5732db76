import FoundationEssentials
import Logging

extension SessionService {
    /// What a revocation ended: one session (logout, a session revoked from the list, reuse of a refresh token), or
    /// every session of a user but one, with or without the user's API keys.
    enum Revocation {
        case session(String)
        case user(String, keeping: String?, apiKeys: Bool)
    }

    /// Reads a revocation back after its commit, on a Galera node, and revokes again what it finds live.
    ///
    /// Galera's certification does not give first-committer-wins between nodes (see ``Database/keeps(_:_:readBack:)``):
    /// a refresh of the session (or a use of an API key) through another node, reading its rows a moment before the
    /// revocation was applied there, can commit after it and write them back unrevoked: the session would live on
    /// after a logout everywhere, a password reset or the detection of a stolen token. The read is causal (it waits
    /// for what the cluster ordered before it); what it finds unrevoked among the sessions and keys created at or
    /// before the revocation (`cutoff`: a login after it is not touched) is revoked again, and read back again, three
    /// times at most (`revocation_not_committed`). A standalone server reads nothing. Outside any transaction.
    func confirm(_ revocation: Revocation, cutoff: Date) throws(AuthError) {
        let hook = afterRevocationCommitForTesting
        guard database.isClusterNode || hook != nil else { return }
        for round in 1...3 {
            if let hook { try database.runForTesting { try hook(database) } }
            let (live, keys) = try database.withCausalReads { () throws(AuthError) in try undone(revocation, cutoff: cutoff) }
            guard !live.isEmpty || !keys.isEmpty else { return }
            logger.warning(
                "a revocation's commit did not hold; revoking again",
                metadata: [
                    "event": "revocation_not_committed", "sessions": "\(live.count)", "api_keys": "\(keys.count)",
                    "round": "\(round)",
                ])
            let now = clock.now()
            // Re-run safe: revoking what is revoked changes nothing.
            try database.transaction { _ throws(AuthError) in
                for id in live { try revokeFamily(id, now: now) }
                if case .user(let userID, _, _) = revocation {
                    for id in keys { _ = try apiKeys.revoke(id, of: userID, now: now) }
                }
            }
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
