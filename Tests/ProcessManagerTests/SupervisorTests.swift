import Glibc
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ProcessManager

/// Processes as the supervisor sees them, faked: spawns get pids 101…, signals and exits are queued by the test.
final class FakeProcessControl: ProcessControl, @unchecked Sendable {
    // @unchecked Sendable: each test drives its fake from one thread.
    var sharesCounters = true
    var nextPID: Int32 = 100
    var failSpawns = false
    private(set) var spawned: [(pid: Int32, arguments: [String], asWorker: Bool)] = []
    private(set) var sent: [(signal: Int32, pid: Int32)] = []
    private(set) var counted: [Int] = []
    private(set) var reopened: [String] = []
    var signals: [(signal: Int32, sender: Int32)] = []
    var exits: [(pid: Int32, status: ProcessExit)] = []
    var permitsHeld: [Int32: Int] = [:]

    func spawn(_ arguments: [String], asWorker: Bool) -> Result<Int32, SystemError> {
        if failSpawns { return .failure(SystemError(call: "posix_spawn", errno: EAGAIN)) }
        nextPID += 1
        spawned.append((nextPID, arguments, asWorker))
        return .success(nextPID)
    }
    func send(_ signal: Int32, to pid: Int32) { sent.append((signal, pid)) }
    func reapOne() -> (pid: Int32, status: ProcessExit)? { exits.isEmpty ? nil : exits.removeFirst() }
    func waitForSignal(timeout: Duration) -> (signal: Int32, sender: Int32)? { signals.isEmpty ? nil : signals.removeFirst() }
    func reopenLog(_ path: String) throws { reopened.append(path) }
    func reclaimPermits(of pid: Int32) -> Int { permitsHeld.removeValue(forKey: pid) ?? 0 }
    func count(_ counter: Int) { counted.append(counter) }

    func signalled(_ signal: Int32) -> [Int32] { sent.filter { $0.signal == signal }.map(\.pid) }
    var workers: [Int32] { spawned.filter(\.asWorker).map(\.pid) }
}

/// The driver's decisions, without processes: which signal leads to which spawn, kill or log line.
@Suite struct SupervisorTests {
    let clock = ManualClock()
    let control = FakeProcessControl()
    let lines = LogCapture()
    let layout = CounterLayout(countersPerSlot: 4, workerCrashes: 0, workerReplacements: 1)

    func supervisor(
        workers: Int = 2, cleanup: Duration? = nil, logFile: String? = nil,
        reloadProblem: String? = nil
    ) -> Supervisor<ManualClock> {
        var configuration = Supervisor<ManualClock>.Configuration(
            pool: .init(workers: workers, drainTimeout: .seconds(30)), workerArguments: ["serve", "--worker"],
            counters: layout)
        configuration.cleanupInterval = cleanup
        configuration.cleanupArguments = ["cleanup", "--lock"]
        configuration.logFile = logFile
        let supervisor = Supervisor(
            configuration: configuration, control: control, clock: clock,
            logger: Logger(label: "test", factory: { [lines] _ in lines }),
            validateReload: { reloadProblem })
        #expect(supervisor.start() == nil)
        return supervisor
    }

    @Test func startsEachWorkerWithItsMetricsSlot() {
        _ = supervisor()
        #expect(
            control.spawned.map(\.arguments) == [
                ["serve", "--worker", "--metrics-slots", "2", "--metrics-slot", "0"],
                ["serve", "--worker", "--metrics-slots", "2", "--metrics-slot", "1"],
            ])
        control.sharesCounters = false
        _ = supervisor(workers: 1)
        #expect(control.spawned.last?.arguments == ["serve", "--worker"], "no counters: no slot arguments")
    }

    @Test func aCrashedWorkerIsReapedCountedAndReplaced() {
        let supervisor = supervisor()
        control.permitsHeld[101] = 1
        control.exits = [(101, .signaled(11))]
        control.signals = [(SIGCHLD, 0)]
        #expect(supervisor.step() == nil)
        #expect(control.workers == [101, 102, 103])
        #expect(control.counted == [layout.workerCrashes, layout.workerReplacements])
        #expect(lines.all.contains { $0.contains("permits of an exited worker freed") })
        #expect(supervisor.pool.livePIDs == [103, 102])
    }

    @Test func anInvalidConfigurationRefusesTheReloadAndKeepsTheWorkers() {
        let supervisor = supervisor(reloadProblem: "tokens.access_secret: too short")
        control.signals = [(SIGHUP, 0)]
        _ = supervisor.step()
        #expect(control.workers == [101, 102], "no replacement started")
        #expect(supervisor.pool.phase == .running)
        #expect(lines.all.contains { $0.contains("reload refused") && $0.contains("too short") })
    }

    @Test func aValidReloadReplacesWorkersWhenTheyReportReady() {
        let supervisor = supervisor()
        control.signals = [(SIGHUP, 0)]
        _ = supervisor.step()
        #expect(control.workers == [101, 102, 103])
        #expect(control.signalled(SIGTERM).isEmpty, "the old worker serves until the new one is ready")
        control.signals = [(ProcessSignals.workerReady, 103)]
        _ = supervisor.step()
        #expect(control.signalled(SIGTERM) == [101])
    }

    @Test func stopDrainsKillsAfterTheTimeoutAndExitsWhenAllAreReaped() {
        let supervisor = supervisor()
        control.signals = [(SIGTERM, 0)]
        #expect(supervisor.step() == nil)
        #expect(Set(control.signalled(SIGTERM)) == [101, 102])
        control.exits = [(101, .exited(0))]
        #expect(supervisor.step() == nil)
        clock.set(31)
        #expect(supervisor.step() == nil)
        #expect(control.signalled(SIGKILL) == [102])
        control.exits = [(102, .signaled(9))]
        #expect(supervisor.step() == 0)
        #expect(control.counted.isEmpty, "workers asked to stop are no crashes")
    }

    @Test func sigusr1ReopensTheLogAndTellsEveryWorker() {
        let supervisor = supervisor(logFile: "/var/log/jwt-authd.log")
        control.signals = [(SIGUSR1, 0)]
        _ = supervisor.step()
        #expect(control.reopened == ["/var/log/jwt-authd.log"])
        #expect(Set(control.signalled(SIGUSR1)) == [101, 102])
        let plain = self.supervisor(workers: 1)
        control.signals = [(SIGUSR1, 0)]
        _ = plain.step()
        #expect(control.reopened.count == 1, "standard error: nothing to reopen")
    }

    @Test func theCleanupRunsAsAChildOnItsScheduleAndItsExitIsNoWorkerEvent() {
        let supervisor = supervisor(cleanup: .seconds(3600))
        _ = supervisor.step()
        #expect(!control.spawned.contains { !$0.asWorker }, "not before its first minute")
        clock.set(60)
        _ = supervisor.step()
        let cleanup = control.spawned.filter { !$0.asWorker }
        #expect(cleanup.map(\.arguments) == [["cleanup", "--lock"]])
        clock.set(120)
        _ = supervisor.step()
        #expect(control.spawned.filter { !$0.asWorker }.count == 1, "every interval, not every turn")
        control.exits = [(cleanup[0].pid, .exited(1))]
        _ = supervisor.step()
        #expect(lines.all.contains { $0.contains("the periodic cleanup failed") })
        #expect(control.counted.isEmpty && control.workers == [101, 102], "no crash counted, no worker replaced")
        clock.set(60 + 3600)
        _ = supervisor.step()
        #expect(control.spawned.filter { !$0.asWorker }.count == 2)
    }

    @Test func aFailedSpawnIsRetriedThenWithABackOff() {
        control.failSpawns = true
        let supervisor = supervisor(workers: 1)
        #expect(lines.all.contains { $0.contains("cannot start worker 0") })
        clock.set(0.01)
        _ = supervisor.step()  // the first retry is at once, and fails again: now it waits 100 ms
        #expect(lines.all.filter { $0.contains("cannot start worker 0") }.count == 2)
        control.failSpawns = false
        clock.set(0.05)
        _ = supervisor.step()
        #expect(control.workers.isEmpty, "not before the back-off ends")
        clock.set(0.12)
        _ = supervisor.step()
        #expect(control.workers.count == 1)
    }
}

/// #16: the mail sender runs beside the workers as a companion child of the supervisor.
@Suite struct CompanionTests {
    let clock = ManualClock()
    let control = FakeProcessControl()
    let lines = LogCapture()

    func supervisor() -> Supervisor<ManualClock> {
        var configuration = Supervisor<ManualClock>.Configuration(
            pool: .init(workers: 1, drainTimeout: .seconds(30)), workerArguments: ["serve", "--worker"],
            counters: CounterLayout(countersPerSlot: 4, workerCrashes: 0, workerReplacements: 1))
        configuration.companions = [CompanionSpec(name: "mail sender", arguments: ["mail", "deliver"])]
        let supervisor = Supervisor(
            configuration: configuration, control: control, clock: clock,
            logger: Logger(label: "test", factory: { [lines] _ in lines }), validateReload: { nil })
        #expect(supervisor.start() == nil)
        return supervisor
    }

    var senders: [Int32] { control.spawned.filter { $0.arguments == ["mail", "deliver"] }.map(\.pid) }

    @Test func itStartsWithThePoolAndComesBackAfterAnExitWithADoublingWait() {
        let supervisor = supervisor()
        #expect(senders.count == 1 && control.workers.count == 1)
        control.exits = [(senders[0], .exited(1))]
        _ = supervisor.step()
        #expect(lines.all.contains { $0.contains("the mail sender exited") })
        #expect(senders.count == 1, "not at once")
        #expect(control.counted.isEmpty && control.workers.count == 1, "no worker crash, no worker replaced")
        clock.set(1)
        _ = supervisor.step()
        #expect(senders.count == 2)
        control.exits = [(senders[1], .signaled(9))]
        _ = supervisor.step()
        clock.set(2)
        _ = supervisor.step()
        #expect(senders.count == 2, "the second wait is 2 s")
        clock.set(3)
        _ = supervisor.step()
        #expect(senders.count == 3)
    }

    @Test func aReloadRestartsItAndAStopEndsIt() {
        let supervisor = supervisor()
        let first = senders[0]
        control.signals = [(SIGHUP, 0)]
        _ = supervisor.step()
        #expect(control.signalled(SIGTERM).contains(first), "asked to stop, to come back with the new configuration")
        control.exits = [(first, .exited(0))]
        _ = supervisor.step()
        #expect(senders.count == 2, "started again at once")
        #expect(!lines.all.contains { $0.contains("the mail sender exited") })
        control.signals = [(SIGTERM, 0)]
        _ = supervisor.step()
        #expect(control.signalled(SIGTERM).contains(senders[1]))
        control.exits = [(senders[1], .exited(0))]
        _ = supervisor.step()
        #expect(senders.count == 2, "not started again while stopping")
    }
}
