/// The worker-process manager as a pure state machine (php-fpm's process control, without processes): it is fed
/// events, reads the time from its clock, and returns actions for the driver (``Supervisor``) to perform.
///
/// Phases move only as ``PoolPhase/canMove(to:)`` allows, through ``move(to:)``. A worker's life in a slot: it is
/// spawned, serves, and either dies (replaced at once the first time, then with a doubling back-off while it keeps
/// crashing; when ``Configuration/emergencyThreshold`` workers crash within ``Configuration/emergencyInterval`` the
/// whole pool backs off) or is retired (``Retirement``: first serving until its replacement is ready during a
/// reload, then draining until a deadline, then killed).
public struct WorkerPool<C: Clock>: Sendable where C.Duration == Duration, C: Sendable {
    public typealias Instant = C.Instant

    public struct Configuration: Sendable {
        public var workers: Int
        /// How long stopping workers may take before they are killed.
        public var drainTimeout: Duration
        /// The first restart delay after a crash; it doubles for each crash in a row, up to ``maxBackoff``.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(30)
        /// A worker that ran this long before dying starts a new series (no back-off for the first crash).
        public var healthyAfter: Duration = .seconds(10)
        /// During a reload, how long a replacement may take to report that it accepts connections before the old
        /// worker of its slot is stopped anyway.
        public var readyTimeout: Duration = .seconds(30)
        /// php-fpm's emergency restart: when this many workers crash within ``emergencyInterval``, no worker is
        /// started for ``emergencyBackoff`` (a broken host or database must not turn into a fork storm). 0: off.
        public var emergencyThreshold = 10
        public var emergencyInterval: Duration = .seconds(60)
        public var emergencyBackoff: Duration = .seconds(30)

        public init(workers: Int, drainTimeout: Duration) {
            self.workers = workers
            self.drainTimeout = drainTimeout
        }
    }

    /// Where a worker that was asked to stop is in its retirement.
    enum Retirement: Sendable, Equatable {
        /// During a reload: still serving until its replacement reports ready (or ``Configuration/readyTimeout``).
        case awaitingReplacement
        /// Asked to stop (SIGTERM): finishing its requests until the deadline.
        case draining(until: Instant)
        /// Past its deadline and killed (SIGKILL): waiting to be reaped.
        case killed
    }

    struct Slot: Sendable {
        var pid: Int32?
        var startedAt: Instant
        var crashes = 0
        var respawnAt: Instant?
        var retiring: [Int32: Retirement] = [:]
        /// During a reload: when the old worker is stopped even if the replacement has not reported ready.
        var readyDeadline: Instant?
    }

    public let configuration: Configuration
    let clock: C
    public private(set) var phase: PoolPhase = .running
    /// Workers that died without being asked to (for the metrics).
    public internal(set) var crashes = 0
    /// Emergency back-offs so far.
    public internal(set) var emergencies = 0
    var slots: [Slot]
    var reloadQueue: [Int] = []
    var stopRequests = 0
    /// Recent crashes, for the emergency rule.
    var recentCrashes: [Instant] = []
    /// During an emergency back-off: no worker starts before this.
    var poolBackoffUntil: Instant?

    public init(configuration: Configuration, clock: C) {
        precondition(configuration.workers > 0)
        self.configuration = configuration
        self.clock = clock
        slots = Array(repeating: Slot(startedAt: clock.now), count: configuration.workers)
    }

    /// The pids of live workers (current and retiring).
    public var livePIDs: [Int32] {
        slots.flatMap { slot in (slot.pid.map { [$0] } ?? []) + slot.retiring.keys.sorted() }
    }

    /// The earliest time ``tick()`` has something to do.
    public var nextDeadline: Instant? {
        let deadlines = slots.flatMap { slot in
            [slot.respawnAt, slot.readyDeadline].compactMap { $0 }
                + slot.retiring.values.compactMap { retirement in
                    if case .draining(let until) = retirement { until } else { nil }
                }
        }
        return deadlines.min()
    }

    /// Moves to another phase; a move the table does not allow is a programming error.
    mutating func move(to next: PoolPhase) {
        precondition(phase.canMove(to: next), "no pool transition from \(phase) to \(next)")
        phase = next
    }

    /// Starts every worker.
    public mutating func start() -> [PoolAction] {
        (0..<slots.count).map { PoolAction.spawn(slot: $0) }
    }

    /// The driver started a worker for `slot`.
    public mutating func spawned(slot: Int, pid: Int32) -> [PoolAction] {
        let now = clock.now
        slots[slot].pid = pid
        slots[slot].startedAt = now
        slots[slot].respawnAt = nil
        if phase == .reloading, slots[slot].retiring.values.contains(.awaitingReplacement) {
            // The old worker serves on until the replacement accepts connections (so the pool never runs a slot
            // short while a new process starts: its runtime, configuration, keys and first hash take a while).
            slots[slot].readyDeadline = now.advanced(by: configuration.readyTimeout)
        }
        return []
    }

    /// A worker reports that it accepts connections: during a reload, the old worker of its slot may now drain.
    public mutating func ready(pid: Int32) -> [PoolAction] {
        guard let slot = slots.firstIndex(where: { $0.pid == pid }), slots[slot].readyDeadline != nil else { return [] }
        let actions = drainAwaitingWorker(of: slot)
        return actions.isEmpty ? [] : [.log(.info, "worker \(pid) ready: the old worker of slot \(slot) drains")] + actions
    }

    /// Spawning failed (fork/exec error): try again after the back-off.
    public mutating func spawnFailed(slot: Int, reason: String) -> [PoolAction] {
        let delay = backoff(for: slot, ranFor: .zero)
        slots[slot].respawnAt = clock.now.advanced(by: delay)
        return [.log(.error, "cannot start worker \(slot): \(reason); retrying in \(describe(delay))")]
    }

    /// A worker exited (reaped by the driver).
    public mutating func exited(pid: Int32, status: ProcessExit) -> [PoolAction] {
        guard let index = slots.firstIndex(where: { $0.pid == pid || $0.retiring[pid] != nil }) else {
            return [.log(.warning, "reaped unknown child \(pid) (\(status))")]
        }
        var actions: [PoolAction] = []
        if slots[index].retiring.removeValue(forKey: pid) != nil {
            // A worker we asked to stop: expected.
            if status != .exited(0) { actions.append(.log(.notice, "retired worker \(pid) ended with \(status)")) }
            if phase == .reloading { actions += advanceReload() }
        } else {
            slots[index].pid = nil
            if phase.replacesWorkers {
                actions += replace(index, pid: pid, status: status)
                if phase == .reloading { actions += advanceReload() }
            }
        }
        if phase == .stopping && livePIDs.isEmpty {
            move(to: .stopped)
            actions += [.log(.info, "all workers stopped"), .exit(0)]
        }
        return actions
    }

    /// An operator command.
    public mutating func handle(_ command: PoolCommand) -> [PoolAction] {
        switch (command, phase) {
        case (.stop, .stopped):
            return []
        case (.stop, _):
            return stop()
        case (.reload, .running):
            move(to: .reloading)
            reloadQueue = Array(slots.indices)
            return [.log(.info, "reloading: replacing \(slots.count) worker(s) one by one")] + advanceReload()
        case (.reload, _):
            return [.log(.notice, "reload ignored while \(phase)")]
        }
    }

    /// Time passes: delayed restarts, replacements that never reported ready, and SIGKILL for workers past their
    /// drain deadline.
    public mutating func tick() -> [PoolAction] {
        let now = clock.now
        var actions: [PoolAction] = []
        if let until = poolBackoffUntil, until <= now {
            poolBackoffUntil = nil
            actions.append(.log(.notice, "emergency back-off over: starting workers again"))
        }
        for index in slots.indices {
            if let at = slots[index].respawnAt, at <= now, phase.replacesWorkers, poolBackoffUntil == nil {
                slots[index].respawnAt = nil
                actions.append(.spawn(slot: index))
            }
            if let deadline = slots[index].readyDeadline, deadline <= now {
                let replacement = slots[index].pid.map(String.init) ?? "-"
                actions.append(
                    .log(
                        .warning,
                        "worker \(replacement) of slot \(index) not ready after "
                            + "\(describe(configuration.readyTimeout)): stopping the old one anyway"))
                actions += drainAwaitingWorker(of: index)
            }
            for (pid, retirement) in slots[index].retiring {
                guard case .draining(let until) = retirement, until <= now else { continue }
                actions.append(.log(.warning, "worker \(pid) did not finish within the drain timeout: killing it"))
                actions.append(.kill(pid: pid))
                slots[index].retiring[pid] = .killed
            }
        }
        return actions
    }
}
