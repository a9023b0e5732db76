import Synchronization

/// A clock the tests set by hand (seconds since an arbitrary start): the pool and the supervisor read it, nothing
/// sleeps.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let current = Mutex(Duration.zero)
    var now: Instant { Instant(offset: current.withLock { $0 }) }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws { set(seconds(deadline)) }

    /// Sets the time, in seconds since the start.
    func set(_ seconds: Double) { current.withLock { $0 = .nanoseconds(Int64((seconds * 1e9).rounded())) } }
    /// Moves the time on.
    func advance(_ duration: Duration) { current.withLock { $0 += duration } }
    /// An instant in seconds since the start.
    func seconds(_ instant: Instant) -> Double {
        (instant.offset / .nanoseconds(1)).rounded() / 1e9
    }
}
