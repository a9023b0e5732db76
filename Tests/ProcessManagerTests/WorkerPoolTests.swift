import Testing

@testable import ProcessManager

/// The supervisor's decisions, driven with a fake clock and fake pids: no processes.
@Suite struct WorkerPoolTests {
    let clock = ManualClock()
    var pool: WorkerPool<ManualClock>
    var nextPID: Int32 = 100

    init() {
        pool = WorkerPool(configuration: .init(workers: 2, drainTimeout: .seconds(30)), clock: clock)
    }
    /// Performs spawns like the driver would, returning the other actions.
    mutating func run(_ actions: [PoolAction], now: Double) -> [PoolAction] {
        var rest: [PoolAction] = []
        for action in actions {
            if case .spawn(let slot) = action {
                nextPID += 1
                rest += run(pool.spawned(slot: slot, pid: nextPID, now: now), now: now)
            } else {
                rest.append(action)
            }
        }
        return rest
    }

    private func logs(_ actions: [PoolAction]) -> [String] {
        actions.compactMap { if case .log(_, let text) = $0 { text } else { nil } }
    }

    @Test mutating func startsOneWorkerPerSlot() {
        #expect(run(pool.start(now: 0), now: 0).isEmpty)
        #expect(pool.livePIDs == [101, 102])
        #expect(pool.phase == .running)
    }

    @Test mutating func aCrashIsRestartedAtOnceThenWithGrowingBackoff() {
        _ = run(pool.start(now: 0), now: 0)
        var actions = run(pool.exited(pid: 101, status: .signaled(9), now: 100), now: 100)
        #expect(logs(actions).first?.contains("signal 9 (SIGKILL)") == true)
        #expect(pool.livePIDs.count == 2, "replaced at once: the first crash after a healthy run")
        // Now it crash-loops: each quick death waits longer.
        var delays: [Double] = []
        var now = 100.0
        for _ in 0..<6 {
            let victim = pool.livePIDs.first { $0 != 102 }!
            now += 0.01
            actions = run(pool.exited(pid: victim, status: .exited(1), now: now), now: now)
            #expect(!actions.contains(.spawn(slot: 0)))
            let due = pool.nextDeadlineSeconds!
            delays.append(((due - now) * 1000).rounded() / 1000)
            #expect(run(pool.tick(now: due - 0.001), now: due - 0.001).isEmpty, "nothing before the back-off ends")
            now = due
            _ = run(pool.tick(now: now), now: now)
        }
        #expect(delays == delays.sorted() && delays.first! == 0.1 && delays.last! <= 30)
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $1 == min(30, $0 * 2) })
        #expect(pool.livePIDs.count == 2)
    }

    @Test mutating func aRecycledWorkerIsReplacedWithoutBackoff() {
        _ = run(pool.start(now: 0), now: 0)
        let actions = run(pool.exited(pid: 101, status: .exited(0), now: 0.5), now: 0.5)
        #expect(logs(actions).contains { $0.contains("recycled") })
        #expect(pool.livePIDs == [103, 102])
    }

    @Test mutating func gracefulStopThenKillAfterTheDrainTimeout() {
        _ = run(pool.start(now: 0), now: 0)
        let actions = run(pool.handle(.stop, now: 10), now: 10)
        #expect(actions.filter { if case .stop = $0 { true } else { false } } == [.stop(pid: 101), .stop(pid: 102)])
        #expect(pool.phase == .stopping)
        #expect(run(pool.exited(pid: 101, status: .exited(0), now: 12), now: 12).isEmpty)
        #expect(run(pool.tick(now: 39), now: 39).isEmpty)
        let late = run(pool.tick(now: 40.5), now: 40.5)
        #expect(late.contains(.kill(pid: 102)))
        let end = run(pool.exited(pid: 102, status: .signaled(9), now: 40.6), now: 40.6)
        #expect(end.last == .exit(0))
        #expect(pool.phase == .stopped)
        #expect(run(pool.handle(.stop, now: 41), now: 41).isEmpty, "stopped is final")
    }

    @Test mutating func aSecondStopKillsAtOnceAndWorkersAreNotRestartedWhileStopping() {
        _ = run(pool.start(now: 0), now: 0)
        _ = run(pool.handle(.stop, now: 1), now: 1)
        #expect(run(pool.handle(.stop, now: 2), now: 2).filter { if case .kill = $0 { true } else { false } }.count == 2)
        let actions = run(pool.exited(pid: 101, status: .signaled(9), now: 2.1), now: 2.1)
        #expect(!actions.contains { if case .spawn = $0 { true } else { false } })
        #expect(run(pool.exited(pid: 102, status: .signaled(9), now: 2.2), now: 2.2).last == .exit(0))
    }

    @Test mutating func reloadReplacesWorkersOneByOneStartingTheNewOneFirst() {
        _ = run(pool.start(now: 0), now: 0)
        #expect(pool.ready(pid: 101, now: 1).isEmpty, "a ready report outside a reload changes nothing")
        var actions = run(pool.handle(.reload, now: 5), now: 5)
        // Slot 0: new worker 103 spawned; the old 101 serves on until 103 accepts connections.
        #expect(!actions.contains(.stop(pid: 101)))
        #expect(Set(pool.livePIDs) == [101, 102, 103])
        #expect(pool.phase == .reloading)
        #expect(pool.ready(pid: 102, now: 5.1).isEmpty, "another slot's worker")
        #expect(pool.ready(pid: 103, now: 5.2).last == .stop(pid: 101))
        #expect(pool.ready(pid: 103, now: 5.3).isEmpty, "reported once")
        actions = run(pool.exited(pid: 101, status: .exited(0), now: 6), now: 6)
        #expect(!actions.contains(.stop(pid: 102)))
        #expect(Set(pool.livePIDs) == [102, 103, 104])
        #expect(pool.ready(pid: 104, now: 6.5).last == .stop(pid: 102))
        actions = run(pool.exited(pid: 102, status: .exited(0), now: 7), now: 7)
        #expect(logs(actions).contains("reload complete"))
        #expect(pool.phase == .running)
        #expect(Set(pool.livePIDs) == [103, 104])
        _ = run(pool.handle(.reload, now: 8), now: 8)
        #expect(pool.ready(pid: 105, now: 8.1).last == .stop(pid: 103))
    }

    @Test mutating func aReplacementThatNeverReportsReadyStopsTheOldWorkerAfterTheTimeout() {
        _ = run(pool.start(now: 0), now: 0)
        _ = run(pool.handle(.reload, now: 5), now: 5)
        #expect(pool.nextDeadlineSeconds == Double(35))
        #expect(pool.tick(now: 20).isEmpty)
        let actions = pool.tick(now: 5 + 30)
        #expect(actions.contains(.stop(pid: 101)))
        #expect(logs(actions).first?.contains("not ready after") == true)
        #expect(pool.ready(pid: 103, now: 40).isEmpty, "too late: the old one is already draining")
    }

    @Test mutating func aReplacementThatCrashesBeforeReadyLeavesTheOldWorkerServing() {
        _ = run(pool.start(now: 0), now: 0)
        _ = run(pool.handle(.reload, now: 100), now: 100)
        let actions = run(pool.exited(pid: 103, status: .signaled(11), now: 101), now: 101)
        #expect(!actions.contains(.stop(pid: 101)))
        #expect(Set(pool.livePIDs) == [101, 102, 104], "101 still serves; 104 replaces the crashed 103")
        #expect(pool.ready(pid: 104, now: 102).last == .stop(pid: 101))
    }

    @Test mutating func aStopDuringAReloadStopsEveryone() {
        _ = run(pool.start(now: 0), now: 0)
        _ = run(pool.handle(.reload, now: 1), now: 1)
        let actions = run(pool.handle(.stop, now: 2), now: 2)
        let stopped = Set(actions.compactMap { if case .stop(let pid) = $0 { pid } else { nil } })
        #expect(stopped.isSuperset(of: [102, 103]))
        for pid in pool.livePIDs { _ = run(pool.exited(pid: pid, status: .exited(0), now: 3), now: 3) }
        #expect(pool.phase == .stopped)
    }

    @Test mutating func unknownChildrenAreLoggedNotCrashed() {
        _ = run(pool.start(now: 0), now: 0)
        #expect(logs(pool.exited(pid: 999, status: .exited(0), now: 1)).first?.contains("unknown") == true)
        #expect(pool.livePIDs == [101, 102])
    }

    @Test mutating func aFailedSpawnIsRetriedAfterTheBackoff() {
        let first = pool.start(now: 0)
        #expect(first.count == 2)
        _ = pool.spawned(slot: 0, pid: 1, now: 0)
        let failed = pool.spawnFailed(slot: 1, reason: "EAGAIN", now: 0)
        #expect(logs(failed).first?.contains("cannot start worker 1") == true)
        let retry = pool.tick(now: pool.nextDeadlineSeconds ?? 0)
        #expect(retry.contains(.spawn(slot: 1)) || pool.nextDeadline == nil)
    }
}

/// The pool's calls at a given time (seconds since the start): the clock is set first.
extension WorkerPool where C == ManualClock {
    mutating func start(now: Double) -> [PoolAction] {
        clock.set(now)
        return start()
    }
    mutating func spawned(slot: Int, pid: Int32, now: Double) -> [PoolAction] {
        clock.set(now)
        return spawned(slot: slot, pid: pid)
    }
    mutating func ready(pid: Int32, now: Double) -> [PoolAction] {
        clock.set(now)
        return ready(pid: pid)
    }
    mutating func spawnFailed(slot: Int, reason: String, now: Double) -> [PoolAction] {
        clock.set(now)
        return spawnFailed(slot: slot, reason: reason)
    }
    mutating func exited(pid: Int32, status: ProcessExit, now: Double) -> [PoolAction] {
        clock.set(now)
        return exited(pid: pid, status: status)
    }
    mutating func handle(_ command: PoolCommand, now: Double) -> [PoolAction] {
        clock.set(now)
        return handle(command)
    }
    mutating func tick(now: Double) -> [PoolAction] {
        clock.set(now)
        return tick()
    }
    var nextDeadlineSeconds: Double? { nextDeadline.map(clock.seconds) }
}
