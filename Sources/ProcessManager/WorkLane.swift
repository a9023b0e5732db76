import CProcess
import Dispatch
import Glibc
import Synchronization

/// A few low-priority threads of this process that run costly work (password hashing) for the request threads, each
/// holding one of the pool's ``SharedPermits`` while it works.
///
/// It keeps a flood of such work from starving the process's other requests, in three ways:
/// - **Admission**: at most `capacity` callers of this process may be inside (waiting or being served); the others
///   are refused at once by ``enter()``, before they have done anything worth undoing.
/// - **A bounded wait**: work that has not got a thread and a permit within `wait` is not run (``run(_:)`` answers
///   `false`), so a request thread is never held longer than that plus the work itself.
/// - **Priority**: the lane's threads run at `SCHED_BATCH` and nice `nice`, so the CPU goes to the request threads
///   first and the work gets what is left (without competition, all of it).
public final class WorkLane: Sendable {
    public let capacity: Int
    public let wait: Duration
    /// The lane's threads: at most this many pieces of work run at once in this process.
    public let threads: Int
    private let permits: SharedPermits
    private let queue = Mutex<[Job]>([])
    private let available = DispatchSemaphore(value: 0)
    private let inside = Atomic<Int>(0)

    /// One piece of work and its hand-over between a caller and a lane thread.
    private final class Job: Sendable {
        /// 0 queued, 1 taken by a lane thread, 2 abandoned by its caller (not to be run).
        let state = Atomic<Int>(0)
        let ran = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        let deadline: ContinuousClock.Instant
        let work: @Sendable () -> Void

        init(deadline: ContinuousClock.Instant, work: @escaping @Sendable () -> Void) {
            self.deadline = deadline
            self.work = work
        }
    }

    /// Starts `threads` lane threads (named `name`).
    ///
    /// - Throws: ``SystemError`` when a thread cannot be started.
    public init(name: String, threads: Int, capacity: Int, wait: Duration, nice: Int32, permits: SharedPermits) throws(SystemError) {
        self.capacity = max(1, capacity)
        self.wait = wait
        self.permits = permits
        self.threads = max(1, threads)
        for _ in 0..<self.threads {
            _ = try OSThread(name: name) { [self] in
                _ = CProcess_lower_thread_priority(nice)
                serve()
            }
        }
    }

    /// Takes one of the `capacity` places; `false` when all are taken (refuse the request: the lane is full).
    public func enter() -> Bool {
        var current = inside.load(ordering: .relaxed)
        while current < capacity {
            let (exchanged, original) = inside.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a place taken by ``enter()``.
    public func leave() {
        inside.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// Callers inside now.
    public var occupied: Int { inside.load(ordering: .relaxed) }

    /// Runs `work` on a lane thread holding a permit and waits for it; `false` when it did not get both within
    /// `wait` (then it never runs).
    public func run(_ work: @escaping @Sendable () -> Void) -> Bool {
        let job = Job(deadline: .now + wait, work: work)
        queue.withLock { $0.append(job) }
        available.signal()
        if job.done.wait(
            timeout: .now() + .nanoseconds(Int(wait.components.seconds) * 1_000_000_000 + Int(wait.components.attoseconds / 1_000_000_000)))
            == .timedOut
        {
            // Not taken yet: abandon it. Taken: it is running or about to give up on the permit; wait for its end.
            if job.state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged { return false }
            job.done.wait()
        }
        return job.ran.load(ordering: .acquiring)
    }

    private func serve() {
        while true {
            available.wait()
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            guard job.state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            let left = job.deadline - .now
            if left > .zero, let permit = permits.acquire(within: left) {
                job.work()
                permits.release(permit)
                job.ran.store(true, ordering: .releasing)
            }
            job.done.signal()
        }
    }
}
