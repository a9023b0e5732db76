import Glibc
public import Logging
public import MariaDB

/// One thread's MariaDB connection as the stores use it: every failure leaves here as an ``AuthError`` (the
/// MariaDB error kept as its internal cause), and transactions are run again whole after a conflict.
///
/// Create one per worker thread; it is not shared. The connection opens on first use and reopens after a failure,
/// so a worker starts while MariaDB is down.
public final class Database {
    /// The thread's connection. Only the stores and the composition root use it directly.
    public let connection: Connection
    private let logger: Logger
    /// How many times a transaction runs again after a deadlock, lock wait timeout or Galera certification failure.
    package let maxTransactionRetries = 15
    /// How many times a single statement outside a transaction runs again after one: more, since it is short and
    /// the hot rows of a multi-writer cluster are such statements (a client address's throttle count under a burst
    /// spread over three nodes: of 64 at once, one in 20 needed 5 re-runs, one in 250 needed 10, measured in the
    /// cluster tier); the budget below bounds the time either way.
    package let maxStatementRetries = 30
    /// No conflict is retried once a transaction has been at it this long: with `lock-wait-timeout` (3 s) and
    /// `statement-timeout` (5 s), a request's database work ends well inside nginx's `fastcgi_read_timeout` (30 s).
    package let retryBudget: Duration = .seconds(8)

    private var lastConnectFailure: ContinuousClock.Instant?
    /// After a failed connection attempt, further attempts wait this long (a dead TCP host costs a connect timeout).
    private let reconnectBackoff: Duration = .seconds(1)
    /// Why the last reachability check failed (the server's message, never a password), for the log.
    public private(set) var lastFailure: String?

    /// A database over `connection` (opened lazily when made with `Connection(unconnectedTo:)`).
    public init(connection: Connection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// A database whose connection opens on first use.
    public convenience init(url: DatabaseURL, logger: Logger) {
        self.init(connection: Connection(unconnectedTo: url), logger: logger)
    }

    /// Runs statements; a MariaDB failure becomes an ``AuthError``.
    ///
    /// Outside a transaction each statement commits on its own. A conflict (a Galera certification failure, 1213, or
    /// a lock wait timeout, 1205) on a write runs `body` again whole, but only when no write of this call had
    /// succeeded before it: then nothing of `body` took effect (its reads are simply read again), so running it again
    /// is the same as running it once. A body that fails after one of its writes committed throws: several writes
    /// that must succeed together belong in ``transaction(_:)``. Inside a transaction nothing is retried here: the
    /// transaction is re-run whole.
    @discardableResult
    package func run<T>(_ body: (Connection) throws(MariaDBError) -> T) throws(AuthError) -> T {
        var attempt = 0
        let started = ContinuousClock.now
        while true {
            let writesBefore = connection.writesCompleted
            do {
                return try rerun(after: attempt) { () throws(MariaDBError) -> T in try body(connection) }
            } catch {
                guard error.isTransient, !connection.isInTransaction, connection.writesCompleted == writesBefore,
                    attempt < maxStatementRetries, ContinuousClock.now - started < retryBudget
                else { throw Self.translate(error) }
                attempt += 1
                logger.notice(
                    "statement conflict; retrying",
                    metadata: ["event": "transaction_retry", "db.errno": "\(error.errno)", "attempt": "\(attempt)", "autocommit": "true"])
                Self.backOff(attempt)
            }
        }
    }

    /// Runs attempt `attempt` (0: the first) of `body`; a re-run after a conflict, on a Galera node, with causal
    /// reads: the conflict means a write through another node won, and its write set may not be applied here yet.
    /// Read without waiting for it, the re-run would find the state before it and do the same write again (certain
    /// to conflict again), or answer from that state (a rotation that already happened elsewhere). Waiting costs one
    /// round of the cluster's messages, and only after a conflict.
    private func rerun<T, E: Error>(after attempt: Int, _ body: () throws(E) -> T) throws(E) -> T {
        guard attempt > 0, connection.isClusterNode, !connection.isInTransaction else { return try body() }
        return try connection.withCausalReads(body)
    }

    /// A short random pause before re-run `attempt` (1...), growing with it: 1-5 ms, then up to 5 ms per attempt,
    /// at most 50 ms, so that the parties of a conflict do not meet again at once.
    private static func backOff(_ attempt: Int) {
        usleep(UInt32.random(in: 1_000...(5_000 * UInt32(min(attempt, 10)))))
    }

    /// A read (or conditional write) whose `nil` answer would refuse someone: on a Galera node, a `nil` is checked
    /// once more with causal reads (``MariaDB/Connection/withCausalReads(_:)``), since the row may have been written
    /// through another node moments ago and not be applied here yet (a refresh token rotated on node A presented to
    /// node B). The happy path costs nothing; on a standalone server it runs once.
    package func causal<T>(_ body: () throws(AuthError) -> T?) throws(AuthError) -> T? {
        if let found = try body() { return found }
        // Already causal (inside withCausalReads, as a sign-in's read is): the answer stands, no second read.
        guard connection.isClusterNode, !connection.isInTransaction, !connection.readsCausally else { return nil }
        return try connection.withCausalReads { () throws(AuthError) -> T? in try body() }
    }

    /// Whether the connection is on a Galera node.
    package var isClusterNode: Bool { connection.isClusterNode }

    /// `body` with causal reads (``MariaDB/Connection/withCausalReads(_:)``).
    package func withCausalReads<T>(_ body: () throws(AuthError) -> T) throws(AuthError) -> T {
        try connection.withCausalReads(body)
    }

    /// ``transaction(_:)``, run once more with causal reads when it failed with one of `codes` on a Galera node:
    /// for transactions that fail because a row is not there (a mailed token, written through another node moments
    /// ago). The failed attempt rolled back, so running it again is the same as running it once.
    package func causalTransaction<T>(failingWith codes: Set<AuthError.Code>, _ body: (_ attempt: Int) throws(AuthError) -> T)
        throws(AuthError) -> T
    {
        do {
            return try transaction(body)
        } catch  where codes.contains(error.code) && connection.isClusterNode {
            return try connection.withCausalReads { () throws(AuthError) -> T in try transaction(body) }
        }
    }

    /// Runs `body` in a transaction, again after a deadlock, lock wait timeout or Galera certification failure
    /// (bounded, with a short random back-off; on a Galera node the re-runs read causally). `attempt` counts from 0. Everything `body` does must be safe to run
    /// again whole: it sees the state the rolled-back attempt left, which is the state before it.
    package func transaction<T>(_ body: (_ attempt: Int) throws(AuthError) -> T) throws(AuthError) -> T {
        var attempt = 0
        let started = ContinuousClock.now
        while true {
            let failure: AuthError
            do {
                return try rerun(after: attempt) { () throws -> T in try connection.transaction { try body(attempt) } }
            } catch let error as AuthError {
                failure = error
            } catch let error as MariaDBError {
                failure = Self.translate(error)
            } catch {
                throw AuthError.internalFailure("transaction: \(type(of: error))")
            }
            guard failure.storage?.kind == .conflict, attempt < maxTransactionRetries, ContinuousClock.now - started < retryBudget
            else { throw failure }
            attempt += 1
            logger.notice(
                "transaction conflict; retrying",
                metadata: [
                    "event": "transaction_retry", "db.errno": "\(failure.storage?.errno ?? 0)", "attempt": "\(attempt)",
                ])
            Self.backOff(attempt)
        }
    }

    /// Whether a single-use write this connection committed (a mailed token, a second-factor sign-in, a TOTP step,
    /// a recovery code or a passkey challenge consumed by a conditional update) is the one the database kept: on a
    /// Galera node, `readBack` (one read of the consumed row by primary key, returning the claim stored in it) runs
    /// with causal reads after the commit; on a standalone server nothing is read and the answer is `true`.
    ///
    /// Galera's certification does not give first-committer-wins between nodes (galera issue #336, MDEV-29044, and
    /// Jepsen's 2026 analysis): two conditional updates of one row through two nodes can both find it unconsumed and
    /// both answer OK to their `COMMIT` (`bench/galera-race`, 8 racers per row over three loopback nodes: about 1
    /// row in 100 with a transaction of a reset's shape, none with a single statement). Nor is the losing
    /// transaction undone whole: in every such double commit measured, the consumed row kept one racer's write and
    /// another row both wrote kept the other's. So the consumed row decides: each consumer writes a random claim
    /// with its update, and the one whose claim the row holds (read once this node has applied what was ordered
    /// before the read) won. A consumer whose claim is gone lost, whatever its `COMMIT` said (a warning,
    /// `single_use_not_committed`), and must answer as if the row had been consumed already; a consumption whose
    /// work writes other rows that matter does that work only after it won (a reset's password, a confirmation's
    /// recovery codes), never in the consuming transaction. A row that is gone counts as lost.
    ///
    /// The read is causal across a reconnect too (``MariaDB/Connection/withCausalReads(_:)``); a read that fails
    /// throws, and the caller fails closed (a database error): what it committed stays, but it hands nothing out.
    /// Call it outside any transaction, after the one that wrote `claim` committed.
    package func keeps(_ claim: Claim, _ what: String, readBack: () throws(AuthError) -> [UInt8]?) throws(AuthError) -> Bool {
        try keeps(what) { () throws(AuthError) in try readBack() == claim.bytes }
    }

    /// ``keeps(_:_:readBack:)`` with the decision in `held`: whether the row, read after the commit, shows this
    /// request's write as the one kept (for a row that later writes of its own kind may move on, e.g. a TOTP factor's
    /// last step).
    package func keeps(_ what: String, held: () throws(AuthError) -> Bool) throws(AuthError) -> Bool {
        precondition(!connection.isInTransaction, "a single-use write is read back after the transaction that made it")
        let hook = afterSingleUseCommitForTesting
        guard connection.isClusterNode || hook != nil else { return true }
        if let hook { try runForTesting { try hook(what) } }
        guard try !connection.withCausalReads(held) else { return true }
        logger.warning(
            "a single-use write's commit did not hold", metadata: ["event": "single_use_not_committed", "single_use": "\(what)"])
        return false
    }

    /// Reads a revocation back after its commit on a Galera node, and revokes again what it finds live.
    ///
    /// The lost update ``keeps(_:_:readBack:)`` guards against can undo a revocation: a refresh of the session (or a
    /// use of an API key) through another node, reading its rows a moment before the revocation was applied there,
    /// can commit after it and write them back unrevoked. `live` (read causally) finds what the revocation should
    /// have ended and is live (`nil`: nothing); `again` revokes it, in a transaction, and the read runs again: three
    /// times at most (`revocation_not_committed`), then a last read (`revocation_not_held`, an error, if even that
    /// finds something). A standalone server reads nothing. Call it outside any transaction, after the revocation's.
    package func holdRevoked<Found>(
        _ what: String, live: () throws(AuthError) -> Found?, again: (Found) throws(AuthError) -> Void
    ) throws(AuthError) {
        precondition(!connection.isInTransaction, "a revocation is read back after the transaction that made it")
        let hook = afterRevocationCommitForTesting
        guard connection.isClusterNode || hook != nil else { return }
        for round in 1...4 {
            if let hook { try runForTesting { try hook(what) } }
            guard let found = try connection.withCausalReads(live) else { return }
            guard round < 4 else {
                logger.error("a revocation did not hold after three more", metadata: ["event": "revocation_not_held", "revocation": "\(what)"])
                return
            }
            logger.warning(
                "a revocation's commit did not hold; revoking again",
                metadata: ["event": "revocation_not_committed", "revocation": "\(what)", "round": "\(round)"])
            // Re-run safe: revoking what is revoked changes nothing.
            try transaction { _ throws(AuthError) in try again(found) }
        }
    }

    /// Runs between a revocation's commit and its read-back (``holdRevoked(_:live:again:)``), which it makes run on a
    /// standalone server too: a test writes the revoked rows back there, as a racing refresh through another node would.
    package var afterRevocationCommitForTesting: ((_ what: String) throws -> Void)?

    /// Runs between a single-use write's commit and its read-back (``keeps(_:_:readBack:)``), which it makes run on
    /// a standalone server too: a test takes the write back there, as a write set through another node would.
    package var afterSingleUseCommitForTesting: ((_ what: String) throws -> Void)?

    /// Runs a test's hook inside a transaction; its MariaDB failures are translated like any statement's.
    package func runForTesting(_ hook: () throws -> Void) throws(AuthError) {
        do {
            try hook()
        } catch let error as MariaDBError {
            throw Self.translate(error)
        } catch {
            throw AuthError.internalFailure("test hook: \(error)")
        }
    }

    /// The server in use when the URL lists several (`nil` with one, or while disconnected).
    public var node: String? {
        connection.url.otherEndpoints.isEmpty ? nil : connection.endpoint?.description
    }

    /// Whether MariaDB answers now (reconnecting if it came back, at most once per second while it is down).
    public func isReachable() -> Bool {
        let now = ContinuousClock.now
        if !connection.isOpen, let failed = lastConnectFailure, now - failed < reconnectBackoff {
            return false
        }
        do {
            try connection.ping()
            lastConnectFailure = nil
            lastFailure = nil
            return true
        } catch {
            lastConnectFailure = now
            lastFailure = "\(error)"
            return false
        }
    }

    /// The domain's view of a MariaDB failure.
    package static func translate(_ error: MariaDBError) -> AuthError {
        let kind: StorageFailure.Kind
        switch error.code {
        case .connectionLost, .connectionFailed, .statementTimeout: kind = .unavailable
        case .deadlock, .lockWaitTimeout: kind = .conflict
        case .duplicateKey: kind = .duplicateKey
        default: kind = .other
        }
        // A conflict that outlasted its retries is a busy database: worth trying again (503), not a fault (500).
        let busy = kind == .unavailable || kind == .conflict
        let code: AuthError.Code = busy ? .databaseUnavailable : .databaseFailure
        let message = busy ? "Service temporarily unavailable" : "Internal server error"
        return AuthError(
            code, message, internalCause: "db.code=\(error.code) db.errno=\(error.errno)",
            storage: StorageFailure(kind: kind, errno: error.errno))
    }
}
