package import FoundationEssentials
import MariaDB

/// The `mail_outbox` table: messages written in the transaction that makes their reason (a token), and delivered
/// from here by a sender. Owns every statement on that table.
///
/// Several senders (hosts) may share the table: a sender claims a row with a committed conditional update
/// (`claimed_by`, `lease_until`), sends, then marks it. Row locks such as `SKIP LOCKED` would hold on one node only
/// of a multi-writer Galera cluster; a conditional update is certified cluster-wide. A sender that dies mid-send
/// leaves a lease that runs out, and the row is sent again (at least once, with the same Message-ID).
package struct MailOutboxStore {
    let database: Database

    /// A row claimed for sending.
    package struct Claimed: Sendable {
        package let id: String
        package let recipient: String
        package let message: [UInt8]
        package let attempts: Int64
        package let createdAt: Date
    }

    /// Adds a message (inside the caller's transaction).
    package func enqueue(id: String, recipient: String, message: [UInt8], now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                INSERT INTO mail_outbox (id, recipient, message, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)
                """, [.string(id), .string(recipient), .bytes(message), .date(now), .date(now)])
        }
    }

    /// Claims up to `limit` due messages for `sender` until `leaseUntil`: each by its own conditional update
    /// (committed at once), so that another sender claiming at the same moment gets other rows or none.
    ///
    /// Re-run safe: each claim is one statement with its read-back in a ``Database/run(_:)`` of its own, re-run
    /// (causally on Galera) after a conflict, where it finds the row claimed by the sender that won and skips it. A
    /// claim whose conflicts outlast the re-runs is skipped too (another sender has it, or it is due again at the
    /// next pass): one busy row never ends the pass, and the rows claimed before it are delivered.
    package func claimDue(sender: String, now: Date, leaseUntil: Date, limit: Int) throws(AuthError) -> [Claimed] {
        let due = try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT id FROM mail_outbox WHERE status = 'queued' AND next_attempt_at <= ?
                    AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?
                """, [.date(now), .date(now), .int(Int64(limit))]
            ).map { row throws(MariaDBError) in try row.string("id") }
        }
        var claimed: [Claimed] = []
        for id in due {
            do {
                if let message = try claim(id, sender: sender, now: now, leaseUntil: leaseUntil) { claimed.append(message) }
            } catch  where error.storage?.kind == .conflict {
                continue
            }
        }
        return claimed
    }

    /// One row claimed for `sender` (`nil`: another sender has it, or it was sent). The read after the claim is causal on
    /// a Galera node: two senders claiming through two nodes can both commit, and the one the cluster keeps is the
    /// one named in the row once this node has applied what was ordered before the read.
    private func claim(_ id: String, sender: String, now: Date, leaseUntil: Date) throws(AuthError) -> Claimed? {
        try database.run { connection throws(MariaDBError) in
            let taken = try connection.execute(
                """
                UPDATE mail_outbox SET claimed_by = ?, lease_until = ?, attempts = attempts + 1
                WHERE id = ? AND status = 'queued' AND (lease_until IS NULL OR lease_until < ?)
                """, [.string(sender), .date(leaseUntil), .string(id), .date(now)])
            guard taken.affectedRows == 1,
                let row = try connection.withCausalReads({ () throws(MariaDBError) in
                    try connection.query(
                        "SELECT recipient, message, attempts, created_at FROM mail_outbox WHERE id = ? AND claimed_by = ?",
                        [.string(id), .string(sender)]
                    ).first
                })
            else { return nil }
            return Claimed(
                id: id, recipient: try row.string("recipient"), message: try row.bytes("message"),
                attempts: try row.int("attempts"), createdAt: try row.date("created_at"))
        }
    }

    /// Delivered: the row is kept as sent, without its body (the body holds a link with a live token).
    package func markSent(id: String, sender: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mail_outbox SET status = 'sent', sent_at = ?, message = '', claimed_by = NULL, lease_until = NULL,
                    last_error = NULL WHERE id = ? AND claimed_by = ?
                """, [.date(now), .string(id), .string(sender)])
        }
    }

    /// Not delivered this time: tried again at `next`.
    package func markRetry(id: String, sender: String, next: Date, error: String) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mail_outbox SET next_attempt_at = ?, claimed_by = NULL, lease_until = NULL, last_error = ?
                WHERE id = ? AND claimed_by = ?
                """, [.date(next), .string(String(error.prefix(500))), .string(id), .string(sender)])
        }
    }

    /// Given up (a permanent refusal, or too old): kept as failed, without its body.
    package func markFailed(id: String, sender: String, error: String) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mail_outbox SET status = 'failed', message = '', claimed_by = NULL, lease_until = NULL,
                    last_error = ? WHERE id = ? AND claimed_by = ?
                """, [.string(String(error.prefix(500))), .string(id), .string(sender)])
        }
    }

    /// Counts by status and the age of the oldest queued message.
    package func stats(now: Date) throws(AuthError) -> MailQueueStats {
        try database.run { connection throws(MariaDBError) in
            var stats = MailQueueStats(queued: 0, sent: 0, retried: 0, failed: 0, oldestQueuedAge: 0)
            for row in try connection.query(
                """
                SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest, CAST(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS SIGNED) AS retries
                    FROM mail_outbox GROUP BY status
                """)
            {
                let count = Int(try row.int("n"))
                stats.retried += Int(try row.int("retries"))
                switch try row.string("status") {
                case "queued":
                    stats.queued = count
                    if let oldest = try row.optionalDate("oldest") { stats.oldestQueuedAge = max(0, now.timeIntervalSince(oldest)) }
                case "sent": stats.sent = count
                case "failed": stats.failed = count
                default: break
                }
            }
            return stats
        }
    }

    /// One row as `mail queue` lists it (never its body: it holds a live link).
    package struct Entry: Sendable, Equatable {
        package let id: String
        package let recipient: String
        package let status: String
        package let attempts: Int64
        package let createdAt: Date
        package let nextAttemptAt: Date
        package let lastError: String?
    }

    /// The messages not yet sent (queued and failed), oldest first.
    package func unsent(limit: Int) throws(AuthError) -> [Entry] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT id, recipient, status, attempts, created_at, next_attempt_at, last_error FROM mail_outbox
                    WHERE status IN ('queued', 'failed') ORDER BY created_at, id LIMIT ?
                """, [.int(Int64(limit))]
            ).map { row throws(MariaDBError) in
                Entry(
                    id: try row.string("id"), recipient: try row.string("recipient"), status: try row.string("status"),
                    attempts: try row.int("attempts"), createdAt: try row.date("created_at"),
                    nextAttemptAt: try row.date("next_attempt_at"), lastError: try row.optionalString("last_error"))
            }
        }
    }

    /// Makes queued messages due now (all, or the one `id`): their back-off wait is skipped. Returns how many.
    package func retryNow(id: String?, now: Date) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            if let id {
                return try connection.execute(
                    "UPDATE mail_outbox SET next_attempt_at = ? WHERE status = 'queued' AND id = ?", [.date(now), .string(id)]
                ).affectedRows
            }
            return try connection.execute("UPDATE mail_outbox SET next_attempt_at = ? WHERE status = 'queued'", [.date(now)])
                .affectedRows
        }
    }

    /// Deletes one unsent message (queued or failed) that no sender holds now. Returns whether it did.
    package func drop(id: String, now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                DELETE FROM mail_outbox WHERE id = ? AND status IN ('queued', 'failed')
                    AND (lease_until IS NULL OR lease_until < ?)
                """, [.string(id), .date(now)]
            ).affectedRows == 1
        }
    }
}
