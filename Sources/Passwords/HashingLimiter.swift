import Glibc

/// Where a `HashingLimiter` takes its turns: a counting semaphore, in practice the one the worker processes of a
/// supervisor share (ProcessManager's `SharedPermits`), so the limit holds for the whole pool.
public protocol HashingPermits: Sendable {
    /// How many hashes may run at once.
    var limit: Int { get }
    /// Waits for a turn; returns what `release(_:)` needs.
    func acquire() -> Int
    /// Ends a turn from `acquire()`.
    func release(_ permit: Int)
}

/// Lets at most `permits.limit` password hashes run at once; the others wait their turn.
///
/// Argon2id is memory-hard: every hash in flight holds its memory cost (19 MiB by default) and competes for the
/// same caches. With more hashes in flight than cores, logins only time-slice each other: each takes longer, the
/// processes hold more memory, and the rate drops. Waiting for a free core instead keeps the rate at libargon2's
/// own and bounds memory at `limit` × the memory cost (a burst of logins cannot exhaust the host's memory).
///
/// The limit belongs to the pool, not to one worker process: nginx's kept connections can bring every login to one
/// worker, which must then be able to use every core, while a limit per worker lets W workers run W × limit hashes
/// at once (bench/README.md, *Memory*, has the login rates of both designs).
public final class HashingLimiter: PasswordHashing, Sendable {
    private let inner: any PasswordHashing
    private let permits: any HashingPermits

    public init(_ inner: any PasswordHashing, permits: any HashingPermits) {
        self.inner = inner
        self.permits = permits
    }

    /// How many hashes may run at once.
    public var limit: Int { permits.limit }

    public func hash(_ password: String) throws(PasswordError) -> String {
        try inTurn { () throws(PasswordError) in try inner.hash(password) }
    }

    public func check(_ password: String, against stored: String) -> PasswordCheck {
        inTurn { inner.check(password, against: stored) }
    }

    public func checkAgainstDummy(_ password: String) {
        inTurn { inner.checkAgainstDummy(password) }
    }

    /// Runs `work` holding a permit.
    private func inTurn<T, E: Error>(_ work: () throws(E) -> T) throws(E) -> T {
        let permit = permits.acquire()
        defer { permits.release(permit) }
        return try work()
    }
}
