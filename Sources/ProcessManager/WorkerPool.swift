/// How a worker process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "signal \(signal)\(signal == 9 ? " (SIGKILL)" : signal == 11 ? " (SIGSEGV)" : signal == 6 ? " (SIGABRT)" : "")"
        }
    }
}

/// What the supervisor must do. The state machine decides; the driver performs these with real processes.
public enum PoolAction: Sendable, Equatable {
    /// Start a worker for `slot` (the driver reports its pid with ``WorkerPool/spawned(slot:pid:now:)``, and the
    /// worker itself, once it accepts connections, with ``WorkerPool/ready(pid:now:)``).
    case spawn(slot: Int)
    /// Ask a worker to finish its requests and exit (SIGTERM).
    case stop(pid: Int32)
    /// End a worker now (SIGKILL).
    case kill(pid: Int32)
    /// Write a log line.
    case log(LogLevel, String)
    /// Exit the supervisor with this status (every worker is gone).
    case exit(Int32)
}

public enum LogLevel: Sendable, Equatable {
    case info, notice, warning, error
}

/// Events the supervisor receives from the operator.
public enum PoolCommand: Sendable, Equatable {
    /// TERM, INT, QUIT: stop gracefully; a second one stops at once.
    case stop
    /// HUP: replace the workers one by one (they re-read the configuration and keys as they start).
    case reload
}

/// The worker-process manager as a pure state machine (php-fpm's process control, without processes): it is fed
/// events with the current time and returns actions. States go `running → reloading → running`, and
/// `running/reloading → stopping → stopped`; stopping is final and ignores further stop requests but the second,
/// which escalates to SIGKILL.
public struct WorkerPool: Sendable {
    public struct Configuration: Sendable {
        public var workers: Int
        /// How long stopping workers may take before they are killed.
        public var drainTimeout: Double
        /// The first restart delay after a crash; it doubles for each crash in a row, up to ``maxBackoff``.
        public var initialBackoff: Double = 0.1
        public var maxBackoff: Double = 30
        /// A worker that ran this long before dying starts a new series (no back-off for the first crash).
        public var healthyAfter: Double = 10
        /// During a reload, how long a replacement may take to report that it accepts connections before the old
        /// worker of its slot is stopped anyway.
        public var readyTimeout: Double = 30

        public init(workers: Int, drainTimeout: Double) {
            self.workers = workers
            self.drainTimeout = drainTimeout
        }
    }

    public enum Phase: Sendable, Equatable {
        case running
        case reloading
        case stopping
        case stopped
    }

    struct Slot: Sendable {
        var pid: Int32?
        var startedAt: Double = 0
        var crashes = 0
        var respawnAt: Double?
        /// Workers of this slot that were asked to stop (old generation during a reload, or all at shutdown); the
        /// value is the drain deadline, 0 for an old worker still serving until its replacement is ready.
        var retiring: [Int32: Double] = [:]
        /// During a reload: when the old worker is stopped even if the replacement has not reported ready.
        var readyDeadline: Double?
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .running
    /// Workers that died without being asked to (for the metrics).
    public private(set) var crashes = 0
    private var slots: [Slot]
    private var reloadQueue: [Int] = []
    private var stopRequests = 0
    private var stopDeadline = 0.0

    public init(configuration: Configuration) {
        precondition(configuration.workers > 0)
        self.configuration = configuration
        slots = Array(repeating: Slot(), count: configuration.workers)
    }

    /// The pids of live workers (current and retiring).
    public var livePIDs: [Int32] {
        slots.flatMap { slot in (slot.pid.map { [$0] } ?? []) + slot.retiring.keys.sorted() }
    }

    /// Starts every worker.
    public mutating func start(now: Double) -> [PoolAction] {
        (0..<slots.count).map { PoolAction.spawn(slot: $0) }
    }

    /// The driver started a worker for `slot`.
    public mutating func spawned(slot: Int, pid: Int32, now: Double) -> [PoolAction] {
        slots[slot].pid = pid
        slots[slot].startedAt = now
        slots[slot].respawnAt = nil
        if phase == .reloading, slots[slot].retiring.values.contains(0) {
            // The old worker serves on until the replacement accepts connections (so the pool never runs a slot
            // short while a new process starts: its runtime, configuration, keys and first hash take a while).
            slots[slot].readyDeadline = now + configuration.readyTimeout
        }
        return []
    }

    /// A worker reports that it accepts connections: during a reload, the old worker of its slot may now drain.
    public mutating func ready(pid: Int32, now: Double) -> [PoolAction] {
        guard let slot = slots.firstIndex(where: { $0.pid == pid }), slots[slot].readyDeadline != nil else { return [] }
        let actions = stopWaitingOldWorker(of: slot, now: now)
        return actions.isEmpty ? [] : [.log(.info, "worker \(pid) ready: the old worker of slot \(slot) drains")] + actions
    }

    private mutating func stopWaitingOldWorker(of slot: Int, now: Double) -> [PoolAction] {
        slots[slot].readyDeadline = nil
        guard let old = slots[slot].retiring.first(where: { $0.value == 0 })?.key else { return [] }
        slots[slot].retiring[old] = now + configuration.drainTimeout
        return [.stop(pid: old)]
    }

    /// Spawning failed (fork/exec error): try again after the back-off.
    public mutating func spawnFailed(slot: Int, reason: String, now: Double) -> [PoolAction] {
        let delay = backoff(for: &slots[slot], now: now, ranFor: 0)
        slots[slot].respawnAt = now + delay
        return [.log(.error, "cannot start worker \(slot): \(reason); retrying in \(format(delay))")]
    }

    /// A worker exited (reaped by the driver).
    public mutating func exited(pid: Int32, status: ExitStatus, now: Double) -> [PoolAction] {
        guard let index = slots.firstIndex(where: { $0.pid == pid || $0.retiring[pid] != nil }) else {
            return [.log(.warning, "reaped unknown child \(pid) (\(status))")]
        }
        var actions: [PoolAction] = []
        if slots[index].retiring.removeValue(forKey: pid) != nil {
            // A worker we asked to stop: expected.
            if status != .exited(0) {
                actions.append(.log(.notice, "retired worker \(pid) ended with \(status)"))
            }
            if phase == .reloading { actions += advanceReload(now: now) }
        } else {
            slots[index].pid = nil
            let ranFor = now - slots[index].startedAt
            switch phase {
            case .running, .reloading:
                if status == .exited(0) {
                    // A worker leaves with 0 only when recycled after --max-requests: replace it at once.
                    actions.append(.log(.info, "worker \(pid) recycled after serving its requests"))
                    slots[index].crashes = 0
                    actions.append(.spawn(slot: index))
                } else {
                    crashes += 1
                    let delay = backoff(for: &slots[index], now: now, ranFor: ranFor)
                    actions.append(.log(.error, "worker \(pid) died with \(status) after \(format(ranFor)); restarting"
                        + (delay > 0 ? " in \(format(delay)) (crash \(slots[index].crashes) in a row)" : "")))
                    if delay == 0 {
                        actions.append(.spawn(slot: index))
                    } else {
                        slots[index].respawnAt = now + delay
                    }
                }
                if phase == .reloading { actions += advanceReload(now: now) }
            case .stopping, .stopped:
                break
            }
        }
        if phase == .stopping && livePIDs.isEmpty {
            phase = .stopped
            actions.append(.log(.info, "all workers stopped"))
            actions.append(.exit(0))
        }
        return actions
    }

    /// An operator command.
    public mutating func handle(_ command: PoolCommand, now: Double) -> [PoolAction] {
        switch (command, phase) {
        case (.stop, .stopped):
            return []
        case (.stop, _):
            stopRequests += 1
            if stopRequests > 1 {
                return [.log(.notice, "second stop request: killing workers")] + livePIDs.map { .kill(pid: $0) }
            }
            phase = .stopping
            stopDeadline = now + configuration.drainTimeout
            reloadQueue = []
            var actions: [PoolAction] = [.log(.info, "stopping: workers finish their requests (at most \(format(configuration.drainTimeout)))")]
            for index in slots.indices {
                slots[index].respawnAt = nil
                slots[index].readyDeadline = nil
                for (pid, deadline) in slots[index].retiring where deadline == 0 { slots[index].retiring[pid] = stopDeadline }
                if let pid = slots[index].pid {
                    slots[index].retiring[pid] = stopDeadline
                    slots[index].pid = nil
                }
                actions += slots[index].retiring.keys.sorted().map { PoolAction.stop(pid: $0) }
            }
            if livePIDs.isEmpty {
                phase = .stopped
                actions.append(.exit(0))
            }
            return actions
        case (.reload, .running):
            phase = .reloading
            reloadQueue = Array(slots.indices)
            return [.log(.info, "reloading: replacing \(slots.count) worker(s) one by one")] + advanceReload(now: now)
        case (.reload, _):
            return [.log(.notice, "reload ignored while \(phase)")]
        }
    }

    /// Time passes: delayed restarts, and SIGKILL for workers past their drain deadline.
    public mutating func tick(now: Double) -> [PoolAction] {
        var actions: [PoolAction] = []
        for index in slots.indices {
            if let at = slots[index].respawnAt, at <= now, phase == .running || phase == .reloading {
                slots[index].respawnAt = nil
                actions.append(.spawn(slot: index))
            }
            if let deadline = slots[index].readyDeadline, deadline <= now {
                let replacement = slots[index].pid.map(String.init) ?? "-"
                actions.append(.log(.warning, "worker \(replacement) of slot \(index) not ready after "
                    + "\(format(configuration.readyTimeout)): stopping the old one anyway"))
                actions += stopWaitingOldWorker(of: index, now: now)
            }
            for (pid, deadline) in slots[index].retiring where deadline > 0 && deadline <= now {
                actions.append(.log(.warning, "worker \(pid) did not finish within the drain timeout: killing it"))
                actions.append(.kill(pid: pid))
                slots[index].retiring[pid] = now + 3600  // killed; waiting for the reap
            }
        }
        return actions
    }

    /// The earliest time ``tick(now:)`` has something to do.
    public var nextDeadline: Double? {
        slots.flatMap { slot in
            [slot.respawnAt, slot.readyDeadline].compactMap { $0 } + slot.retiring.values.filter { $0 > 0 }
        }.min()
    }

    private mutating func advanceReload(now: Double) -> [PoolAction] {
        // One slot at a time: wait until no slot has a worker still retiring.
        guard slots.allSatisfy({ $0.retiring.isEmpty }) else { return [] }
        while let next = reloadQueue.first {
            reloadQueue.removeFirst()
            guard let old = slots[next].pid else { continue }
            // Start the replacement first; the old worker is stopped once the new one is spawned.
            slots[next].retiring[old] = 0
            slots[next].pid = nil
            return [.spawn(slot: next)]
        }
        phase = .running
        return [.log(.info, "reload complete")]
    }

    private func backoff(for slot: inout Slot, now: Double, ranFor: Double) -> Double {
        if ranFor >= configuration.healthyAfter { slot.crashes = 0 }
        slot.crashes += 1
        if slot.crashes == 1 { return 0 }
        return min(configuration.maxBackoff, configuration.initialBackoff * Double(1 << min(slot.crashes - 2, 20)))
    }

    private func format(_ seconds: Double) -> String {
        seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : "\(Int(seconds.rounded())) s"
    }
}
