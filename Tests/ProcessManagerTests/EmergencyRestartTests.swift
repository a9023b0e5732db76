import Testing

@testable import ProcessManager

/// php-fpm's emergency restart rule, the phase table and the retirement states.
@Suite struct EmergencyRestartTests {
    let clock = ManualClock()

    func pool(workers: Int = 3, threshold: Int = 4) -> WorkerPool<ManualClock> {
        var configuration = WorkerPool<ManualClock>.Configuration(workers: workers, drainTimeout: .seconds(30))
        configuration.emergencyThreshold = threshold
        configuration.emergencyInterval = .seconds(60)
        configuration.emergencyBackoff = .seconds(30)
        return WorkerPool(configuration: configuration, clock: clock)
    }

    /// Starts the pool with pids 101… and returns them.
    func started(_ pool: inout WorkerPool<ManualClock>) -> [Int32] {
        var pid: Int32 = 100
        for case .spawn(let slot) in pool.start(at: 0) {
            pid += 1
            _ = pool.spawned(slot: slot, pid: pid)
        }
        return pool.livePIDs
    }

    @Test func crashesOverTheThresholdWithinTheIntervalBackTheWholePoolOff() {
        var pool = pool()
        var pids = started(&pool)
        var next: Int32 = 200
        var emergencyLogs: [String] = []
        // Crash-loop: each crash is replaced as the pool decides, until the fourth crash within a minute.
        for second in 1...4 {
            clock.set(Double(second))
            let victim = pids.removeFirst()
            let actions = pool.exited(pid: victim, status: .signaled(11))
            emergencyLogs += actions.compactMap { if case .log(.error, let text) = $0, text.hasPrefix("EMERGENCY") { text } else { nil } }
            for case .spawn(let slot) in actions {
                next += 1
                _ = pool.spawned(slot: slot, pid: next)
                pids.append(next)
            }
        }
        #expect(pool.emergencies == 1)
        #expect(emergencyLogs.count == 1, "said once, loudly")
        #expect(emergencyLogs.first?.contains("4 workers crashed within 60 s") == true)
        // During the back-off nothing starts, however due a slot's own back-off is.
        clock.set(20)
        #expect(!pool.tick().contains { if case .spawn = $0 { true } else { false } })
        clock.set(4 + 30)
        let resumed = pool.tick()
        #expect(resumed.contains { if case .log(.notice, let text) = $0 { text.contains("back-off over") } else { false } })
        #expect(resumed.contains { if case .spawn = $0 { true } else { false } })
    }

    @Test func crashesSpreadBeyondTheIntervalNeverTriggerIt() {
        var pool = pool(workers: 1, threshold: 3)
        var pid = started(&pool)[0]
        for minute in 1...6 {
            clock.set(Double(minute) * 40)  // 40 s apart: at most two inside any 60 s window
            for case .spawn(let slot) in pool.exited(pid: pid, status: .exited(1)) {
                pid += 1000
                _ = pool.spawned(slot: slot, pid: pid)
            }
            for case .spawn(let slot) in pool.tick(at: Double(minute) * 40 + 31) {
                pid += 1000
                _ = pool.spawned(slot: slot, pid: pid)
            }
        }
        #expect(pool.emergencies == 0)
    }

    @Test(arguments: [(0, 0), (5, 1)])
    func thresholdZeroTurnsTheRuleOff(threshold: Int, emergencies: Int) {
        var configuration = WorkerPool<ManualClock>.Configuration(workers: 1, drainTimeout: .seconds(30))
        configuration.emergencyThreshold = threshold
        configuration.initialBackoff = .zero  // every crash is replaced at once: only the emergency rule can stop it
        var pool = WorkerPool(configuration: configuration, clock: clock)
        var pid = started(&pool)[0]
        for step in 1...20 {
            clock.set(Double(step) * 0.01)
            for case .spawn(let slot) in pool.exited(pid: pid, status: .exited(1)) {
                pid += 1
                _ = pool.spawned(slot: slot, pid: pid)
            }
        }
        #expect(pool.emergencies == emergencies)
        #expect(pool.crashes == (threshold == 0 ? 20 : 5), "after the emergency no worker runs to crash")
    }

    @Test func aStopDuringTheBackOffStillEndsThePool() {
        var pool = pool(workers: 2, threshold: 2)
        let pids = started(&pool)
        clock.set(1)
        _ = pool.exited(pid: pids[0], status: .signaled(9))
        _ = pool.exited(pid: pids[1], status: .signaled(9))
        #expect(pool.emergencies == 1)
        let actions = pool.handle(.stop)
        #expect(actions.last == .exit(0), "no worker left: stopped at once")
        #expect(pool.phase == .stopped)
    }

    @Test func thePhaseTableAllowsOnlyItsMoves() {
        let all: [PoolPhase] = [.running, .reloading, .stopping, .stopped]
        let allowed: Set<String> = [
            "running>reloading", "reloading>running", "running>stopping", "reloading>stopping",
            "stopping>stopped",
        ]
        for from in all {
            for to in all {
                #expect(from.canMove(to: to) == allowed.contains("\(from)>\(to)"), "\(from) → \(to)")
            }
        }
    }

    @Test func aKilledWorkerHasNoDeadlineLeft() {
        var pool = pool(workers: 1)
        _ = started(&pool)
        clock.set(1)
        _ = pool.handle(.stop)
        #expect(pool.nextDeadline.map(clock.seconds) == 31)
        clock.set(31)
        #expect(pool.tick().contains(.kill(pid: 101)))
        #expect(pool.slots[0].retiring[101] == .killed)
        #expect(pool.nextDeadline == nil, "killed: only the reap is awaited")
        #expect(pool.tick().isEmpty, "killed once")
    }
}

extension WorkerPool where C == ManualClock {
    mutating func start(at seconds: Double) -> [PoolAction] {
        clock.set(seconds)
        return start()
    }
    mutating func tick(at seconds: Double) -> [PoolAction] {
        clock.set(seconds)
        return tick()
    }
}
