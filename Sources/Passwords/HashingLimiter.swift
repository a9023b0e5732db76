import Glibc

/// Lets at most `limit` password hashes run at once in this process; the others wait their turn.
///
/// Argon2id is memory-hard: every hash in flight holds its memory cost (19 MiB by default) and competes for the
/// same caches. With more hashes in flight than cores, logins only time-slice each other: each takes longer, the
/// process holds more memory, and the rate drops. Waiting for a free core instead keeps the rate at libargon2's
/// own and bounds memory at `limit` × the memory cost (a burst of logins cannot exhaust the host's memory).
public final class HashingLimiter: PasswordHashing, @unchecked Sendable {
    // @unchecked Sendable: the semaphore is made in init, used only through sem_wait/sem_post (thread-safe by
    // contract), and destroyed in deinit; `inner` is Sendable.
    private let inner: any PasswordHashing
    private let semaphore: UnsafeMutablePointer<sem_t>
    /// How many hashes may run at once.
    public let limit: Int

    public init(_ inner: any PasswordHashing, limit: Int) {
        precondition(limit >= 1, "the limit of concurrent hashes must be at least 1")
        self.inner = inner
        self.limit = limit
        semaphore = .allocate(capacity: 1)
        precondition(sem_init(semaphore, 0, UInt32(min(limit, Int(Int32.max)))) == 0, "sem_init failed")
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// The default limit: the number of CPUs. (Not divided between worker processes: nginx's kept connections can
    /// bring every login to one process, which must then be able to use every core. Measured with 2 workers on 2
    /// cores and a limit of 1 each: logins fell to one core's rate whenever the connections landed on one worker.)
    public static var defaultLimit: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    private func acquire() {
        while sem_wait(semaphore) != 0 {}  // only EINTR can interrupt it: wait again
    }

    private func release() { sem_post(semaphore) }

    public func hash(_ password: String) throws(PasswordError) -> String {
        acquire()
        defer { release() }
        return try inner.hash(password)
    }

    public func check(_ password: String, against stored: String) -> PasswordCheck {
        acquire()
        defer { release() }
        return inner.check(password, against: stored)
    }

    public func checkAgainstDummy(_ password: String) {
        acquire()
        defer { release() }
        inner.checkAgainstDummy(password)
    }
}
