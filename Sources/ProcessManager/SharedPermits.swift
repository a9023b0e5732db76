import CProcess
import Glibc

/// A counting semaphore shared by every process that maps one `SharedCounters` memory: under a supervisor, at most
/// `limit` permits are held at once in the whole worker pool, whichever workers the requests reach.
///
/// A permit is a cell holding its holder's pid, so a worker that dies while holding permits does not leak them:
/// the supervisor frees a worker's cells when it reaps it (`SharedCounters.reclaimPermits(heldBy:)`), and a waiter
/// that has slept for `reclaimMilliseconds` frees the cells of holders that no longer exist. Waiters sleep on a futex (no polling while
/// permits are released normally). Processes may use different limits (old and new workers during a reload): each
/// takes cells among its first `limit`, so the pool holds at most the largest limit in use.
public final class SharedPermits: @unchecked Sendable {
    // @unchecked Sendable: the cells are only touched through atomic C operations, and `memory` keeps the mapping.
    private let memory: SharedCounters
    private let region: UnsafeMutablePointer<UInt32>
    private let pid: UInt32
    /// Permits this process may take (cells `0..<limit`).
    public let limit: Int
    /// The largest limit (cells in the memory).
    public static let maxLimit = 1024
    /// How long a waiter sleeps before it looks for holders that died.
    static let reclaimMilliseconds: Int32 = 200

    init(memory: SharedCounters, limit: Int) {
        precondition(limit >= 1 && limit <= Self.maxLimit, "a permit limit must be within 1...\(Self.maxLimit)")
        self.memory = memory
        region = memory.permitRegion
        pid = UInt32(getpid())
        self.limit = limit
    }

    /// Waits for a permit; returns the permit to give back to `release(_:)`.
    public func acquire() -> Int {
        Int(CProcess_permit_acquire(region, Int32(limit), pid, Self.reclaimMilliseconds))
    }

    /// Waits at most `timeout` for a permit; `nil` when none came.
    public func acquire(within timeout: Duration) -> Int? {
        let milliseconds = max(0, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let index = CProcess_permit_acquire_within(region, Int32(limit), pid, Self.reclaimMilliseconds, Int(milliseconds))
        return index >= 0 ? Int(index) : nil
    }

    /// Takes a permit if one is free now.
    public func tryAcquire() -> Int? {
        let index = CProcess_permit_try(region, Int32(limit), pid)
        return index >= 0 ? Int(index) : nil
    }

    /// Gives back a permit from `acquire()`.
    public func release(_ permit: Int) {
        precondition(permit >= 0 && permit < limit, "not a permit of this semaphore")
        CProcess_permit_release(region, Int32(permit))
    }

    /// Permits held now among this process's `limit` cells (by any process).
    public var held: Int { Int(CProcess_permit_held(region, Int32(limit))) }
}
