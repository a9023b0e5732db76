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

    /// The default limit: this process's share of the CPUs, at least 1 (`workers` processes share them).
    public static func defaultLimit(workers: Int) -> Int {
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let processes = max(1, workers)
        return max(1, (cpus + processes - 1) / processes)
    }

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
