import Synchronization

/// Where a ``HashingLimiter`` runs hashes: in practice a few low-priority threads of the worker process, each
/// holding one of the permits the workers of a supervisor share (ProcessManager's `WorkLane` over its
/// `SharedPermits`), so the limit holds for the whole pool.
public protocol HashingLane: Sendable {
    /// How many hashes may run at once in the pool.
    var limit: Int { get }
    /// Takes one of this process's places for a request that waits for or runs a hash; `false` when all are taken.
    func enter() -> Bool
    /// Gives back a place of `enter()`.
    func leave()
    /// Runs `work` on a lane thread holding a permit and waits for it; `false` when no turn came within the lane's
    /// wait (then the work never runs).
    func run(_ work: @escaping @Sendable () -> Void) -> Bool
}

/// Runs password hashes on a ``HashingLane``: at most `limit` at once in the pool, at a lower priority than the
/// request threads, and never waiting longer than the lane's wait for a turn (then `busy`).
///
/// Argon2id is memory-hard: every hash in flight holds its memory cost (19 MiB by default) and competes for the
/// same caches. With more hashes in flight than cores, logins only time-slice each other: each takes longer, the
/// processes hold more memory, and the rate drops. Waiting for a free core instead keeps the rate at libargon2's
/// own and bounds memory at `limit` × the memory cost (a burst of logins cannot exhaust the host's memory).
///
/// The limit belongs to the pool, not to one worker process: nginx's kept connections can bring every login to one
/// worker, which must then be able to use every core, while a limit per worker lets W workers run W × limit hashes
/// at once (bench/README.md, *Memory*, has the login rates of both designs). A flood of logins must not starve the
/// other routes (docs/security.md, *A login flood*): hashing runs on the lane's low-priority threads, at most the
/// lane's capacity of request threads per process wait for it, and a wait is bounded.
public final class HashingLimiter: PasswordHashing, Sendable {
    private let inner: any PasswordHashing
    private let lane: any HashingLane

    public init(_ inner: any PasswordHashing, lane: any HashingLane) {
        self.inner = inner
        self.lane = lane
    }

    /// How many hashes may run at once.
    public var limit: Int { lane.limit }

    public func hash(_ password: String) throws(PasswordError) -> String {
        let inner = inner
        guard let outcome = onLane({ Result { () throws(PasswordError) in try inner.hash(password) } }) else {
            throw PasswordError.busy
        }
        return try outcome.get()
    }

    public func check(_ password: String, against stored: String) -> PasswordCheck {
        let inner = inner
        return onLane { inner.check(password, against: stored) } ?? .busy
    }

    @discardableResult
    public func checkAgainstDummy(_ password: String) -> PasswordCheck {
        let inner = inner
        return onLane { inner.checkAgainstDummy(password) } ?? .busy
    }

    /// `work`'s result from a lane thread, or `nil` when no turn came within the lane's wait.
    private func onLane<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T? {
        let result = Mutex<T?>(nil)
        guard
            lane.run({
                let value = work()
                result.withLock { $0 = value }
            })
        else { return nil }
        return result.withLock { $0 }
    }

    public func enterQueue() -> Bool { lane.enter() }

    public func leaveQueue() { lane.leave() }
}
