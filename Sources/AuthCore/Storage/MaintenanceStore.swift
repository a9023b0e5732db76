package import FoundationEssentials
import MariaDB

/// Deletes what can no longer be used, across the tables, in short batches; and the lease that lets one host of
/// several do it.
package struct MaintenanceStore {
    let database: Database

    /// The lease of the periodic cleanup (a row of `leases`: one host of several, on one server or a Galera cluster).
    /// Ten minutes: far longer than a cleanup takes; a host that dies mid-way frees it by then.
    static let lease = Lease(name: "cleanup", duration: 600)

    /// Takes the cleanup lease without waiting. Returns whether this process now holds it. One statement and a read:
    /// re-run whole after a conflict (another host taking it at the same moment), which then finds it taken.
    package func tryLock() throws(AuthError) -> Bool {
        let now = Date()
        return try database.transaction { _ throws(AuthError) in
            try database.run { connection throws(MariaDBError) in try Self.lease.take(on: connection, now: now) }
        }
    }

    /// Gives the cleanup lease back.
    package func unlock() {
        _ = try? database.run { connection throws(MariaDBError) in try Self.lease.release(on: connection) }
    }

    /// Runs `DELETE … LIMIT batchSize` until a batch deletes fewer rows. Returns the rows deleted.
    package func drain(_ table: Table, olderThan cutoffs: [Date], batchSize: Int) throws(AuthError) -> Int {
        var total = 0
        while true {
            let deleted = try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    table.deleteSQL + " LIMIT \(batchSize)", cutoffs.map { .date($0) },
                    idempotent: true
                ).affectedRows
            }
            total += deleted
            if deleted < batchSize { return total }
        }
    }

    /// What a cleanup deletes from each table.
    package enum Table {
        /// Sessions past their absolute expiry (1st cutoff) or revoked before the 2nd; their tokens go with them.
        case sessions
        /// Refresh tokens past their expiry.
        case refreshTokens
        /// API keys expired (1st cutoff) or revoked (2nd) before the cutoffs.
        case apiKeys
        /// Throttle windows that started before the cutoff.
        case throttle
        /// One-time tokens expired (1st cutoff) or consumed (2nd) before the cutoffs.
        case oneTimeTokens
        /// Outbox rows sent or failed before the cutoff (they keep no body; the queued ones always stay).
        case mailOutbox
        /// Second-factor enrolments never confirmed, expired before the cutoff.
        case pendingFactors
        /// Sign-ins that waited for a second factor, expired before the cutoff.
        case challenges
        /// Passkey ceremony challenges, expired before the cutoff.
        case webauthnChallenges

        var deleteSQL: String {
            switch self {
            case .sessions: "DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?"
            case .refreshTokens: "DELETE FROM refresh_tokens WHERE expires_at < ?"
            case .apiKeys: "DELETE FROM api_keys WHERE expires_at < ? OR revoked_at < ?"
            case .throttle: "DELETE FROM auth_throttle WHERE window_start < ?"
            case .oneTimeTokens: "DELETE FROM one_time_tokens WHERE expires_at < ? OR consumed_at < ?"
            case .mailOutbox: "DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < ?"
            case .pendingFactors: "DELETE FROM mfa_factors WHERE status = 'pending' AND expires_at < ?"
            case .challenges: "DELETE FROM mfa_challenges WHERE expires_at < ?"
            case .webauthnChallenges: "DELETE FROM webauthn_challenges WHERE expires_at < ?"
            }
        }
    }
}
