#if canImport(Glibc)
import Glibc
#endif

/// A value shared by threads behind glibc's reader-writer lock: any number of readers at once, or one writer.
///
/// For state that the request path reads far more often than it changes, in a process of many threads. Behind a
/// `Mutex` every reader waits for the one holding it, and on a busy machine a holder preempted mid-read stops them
/// all: the verified-token cache (AuthCore's `VerifiedAccessTokens`) spent 16 % of the verify route's samples in
/// `Mutex.lockSlow` with one process of 104 threads on 2 CPUs. Here readers only share the lock. glibc's default
/// kind prefers readers, so a writer waits until no reader holds it: fit for rare writes between short reads.
public final class ReadWriteLocked<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `value` is read only with `lock` held shared and changed only with it held alone; the lock
    // sits at a fixed address and is touched only through pthread calls.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    private var value: Value

    /// A lock guarding `value`.
    public init(_ value: Value) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        let status = pthread_rwlock_init(lock, nil)
        precondition(status == 0, "pthread_rwlock_init failed: \(status)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// Runs `body` on the value with the lock shared with other readers.
    ///
    /// - Returns: what `body` returns.
    public func read<Result>(_ body: (borrowing Value) throws -> Result) rethrows -> Result {
        let status = pthread_rwlock_rdlock(lock)
        precondition(status == 0, "pthread_rwlock_rdlock failed: \(status)")
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    /// Runs `body` on the value with the lock held alone, so that it may change it.
    ///
    /// - Returns: what `body` returns.
    public func write<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        let status = pthread_rwlock_wrlock(lock)
        precondition(status == 0, "pthread_rwlock_wrlock failed: \(status)")
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
