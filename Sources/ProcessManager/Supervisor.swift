import Glibc
public import Logging

/// Drives the ``WorkerPool`` state machine: turns signals into pool commands, reaps children, performs the pool's
/// actions through a ``ProcessControl`` (real processes, or a fake in the unit tests), and starts the periodic
/// cleanup as a child process (so the supervisor itself holds no database connection).
public final class Supervisor<C: Clock & Sendable> where C.Duration == Duration {
    /// What the supervisor runs.
    public struct Configuration: Sendable {
        public var pool: WorkerPool<C>.Configuration
        /// A worker's command line (this binary's arguments, without the executable).
        public var workerArguments: [String]
        /// How often the cleanup child runs (`nil`: never), and its command line.
        public var cleanupInterval: Duration?
        public var cleanupArguments: [String] = []
        /// Long-running helper children (the mail sender), started with the pool.
        public var companions: [CompanionSpec] = []
        /// The log file that SIGUSR1 reopens (`nil`: standard error, nothing to reopen).
        public var logFile: String?
        /// Where crashes and replacements are counted in the pool's shared memory.
        public var counters: CounterLayout

        public init(pool: WorkerPool<C>.Configuration, workerArguments: [String], counters: CounterLayout) {
            self.pool = pool
            self.workerArguments = workerArguments
            self.counters = counters
        }
    }

    /// The signals the supervisor acts on (blocked in every thread, taken one by one).
    public static var signals: [Int32] {
        [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, ProcessSignals.workerReady, SIGCHLD]
    }

    public private(set) var pool: WorkerPool<C>
    private let configuration: Configuration
    let control: any ProcessControl
    let clock: C
    let logger: Logger
    var companions: [Companion<C>]
    private let validateReload: () -> String?
    /// Worker starts so far: beyond the first round, each one is a replacement.
    private var spawnedWorkers = 0
    private var nextCleanup: C.Instant?
    private(set) var cleanupPID: Int32?

    /// - Parameters:
    ///   - validateReload: Checks the configuration before a reload; returns a problem to refuse it.
    public init(
        configuration: Configuration, control: any ProcessControl, clock: C, logger: Logger,
        validateReload: @escaping () -> String?
    ) {
        self.configuration = configuration
        self.control = control
        self.clock = clock
        self.logger = logger
        self.validateReload = validateReload
        pool = WorkerPool(configuration: configuration.pool, clock: clock)
        companions = configuration.companions.map { Companion(spec: $0, now: clock.now) }
        // The first cleanup soon after start (at most a minute), then every interval.
        nextCleanup = configuration.cleanupInterval.map { clock.now.advanced(by: min($0, .seconds(60))) }
    }

    /// Runs until the pool has stopped; returns the exit status.
    public func run() -> Int32 {
        if let status = start() { return status }
        while true {
            if let status = step() { return status }
        }
    }

    /// Starts every worker; an exit status if the pool is already done.
    func start() -> Int32? {
        let status = perform(pool.start())
        if status == nil { tendCompanions() }
        return status
    }

    /// One turn of the loop: waits for a signal at most until the next deadline, then acts on it, on exited
    /// children, on time and on the cleanup schedule. Returns the exit status once the pool is done.
    public func step() -> Int32? {
        let now = clock.now
        let deadline = [pool.nextDeadline, nextCleanup].compactMap { $0 }.min() ?? now.advanced(by: .seconds(1))
        let wait = max(.milliseconds(1), min(.seconds(1), now.duration(to: deadline)))
        var actions: [PoolAction] = []
        if let (signal, sender) = control.waitForSignal(timeout: wait) {
            actions += handle(signal: signal, from: sender)
        }
        actions += reap()  // a SIGCHLD can be merged with another signal
        actions += pool.tick()
        startCleanupIfDue()
        let status = perform(actions)
        tendCompanions()
        return status
    }

    /// What a signal means.
    func handle(signal: Int32, from sender: Int32) -> [PoolAction] {
        switch signal {
        case SIGCHLD:
            return []  // reaped after every signal
        case ProcessSignals.workerReady:
            return pool.ready(pid: sender)
        case SIGTERM, SIGINT, SIGQUIT:
            return pool.handle(.stop)
        case SIGHUP:
            // The same validation as a start: a configuration that could not start must not replace the workers.
            if let problem = validateReload() {
                logger.error(
                    "reload refused: the configuration is invalid; workers keep running",
                    metadata: ["problem": "\(problem)"])
                return []
            }
            restartCompanions()
            return pool.handle(.reload)
        case SIGUSR1:
            reopenLog()
            return []
        default:
            return []
        }
    }

    /// SIGUSR1: reopen the log file here, and tell every worker to do the same.
    private func reopenLog() {
        guard let logFile = configuration.logFile else {
            logger.notice("SIGUSR1: logs go to standard error; nothing to reopen")
            return
        }
        do {
            try control.reopenLog(logFile)
            logger.notice("log file reopened; telling the workers", metadata: ["log.file": "\(logFile)"])
        } catch {
            logger.error("cannot reopen the log file; logging on to the old one", metadata: ["error": "\(error)"])
        }
        for pid in pool.livePIDs { control.send(SIGUSR1, to: pid) }
    }

    /// Reaps every exited child (no zombies), telling the pool about workers.
    func reap() -> [PoolAction] {
        var actions: [PoolAction] = []
        while let (pid, status) = control.reapOne() {
            if companionExited(pid: pid, status: status) { continue }
            if pid == cleanupPID {
                cleanupPID = nil
                if status != .exited(0) { logger.error("the periodic cleanup failed", metadata: ["status": "\(status)"]) }
                continue
            }
            // A worker that died while hashing a password leaves its permits behind: free them for the others.
            let freed = control.reclaimPermits(of: pid)
            if freed > 0 {
                logger.notice(
                    "password-hash permits of an exited worker freed",
                    metadata: ["worker.pid": "\(pid)", "permits": "\(freed)"])
            }
            let crashesBefore = pool.crashes
            actions += pool.exited(pid: pid, status: status)
            if pool.crashes > crashesBefore { control.count(configuration.counters.workerCrashes) }
        }
        return actions
    }

    /// Starts the cleanup child when it is due (never two at once, never while stopping or reloading).
    private func startCleanupIfDue() {
        guard let due = nextCleanup, let interval = configuration.cleanupInterval, clock.now >= due,
            cleanupPID == nil, pool.phase == .running
        else { return }
        nextCleanup = clock.now.advanced(by: interval)
        switch control.spawn(configuration.cleanupArguments, asWorker: false) {
        case .success(let pid): cleanupPID = pid
        case .failure(let error): logger.error("cannot start the periodic cleanup", metadata: ["error": "\(error)"])
        }
    }

    /// Performs actions; returns an exit status when the pool is done.
    func perform(_ actions: [PoolAction]) -> Int32? {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .spawn(let slot):
                queue += spawnWorker(slot: slot)
            case .stop(let pid):
                control.send(SIGTERM, to: pid)
            case .kill(let pid):
                control.send(SIGKILL, to: pid)
            case .log(let level, let message):
                switch level {
                case .info: logger.info("\(message)")
                case .notice: logger.notice("\(message)")
                case .warning: logger.warning("\(message)")
                case .error: logger.error("\(message)")
                }
            case .exit(let status):
                stopCompanions()
                return status
            }
        }
        return nil
    }

    private func spawnWorker(slot: Int) -> [PoolAction] {
        var arguments = configuration.workerArguments
        if control.sharesCounters {
            arguments += ["--metrics-slots", String(configuration.pool.workers), "--metrics-slot", String(slot)]
        }
        spawnedWorkers += 1
        if spawnedWorkers > configuration.pool.workers { control.count(configuration.counters.workerReplacements) }
        switch control.spawn(arguments, asWorker: true) {
        case .success(let pid):
            logger.info("worker started", metadata: ["worker.pid": "\(pid)", "worker.slot": "\(slot)"])
            return pool.spawned(slot: slot, pid: pid)
        case .failure(let error):
            return pool.spawnFailed(slot: slot, reason: "\(error)")
        }
    }
}

/// Where the supervisor writes in the pool's shared counters: their number per worker slot, and the global counters
/// of worker crashes and replacements. The metrics own the layout; the supervisor only gets it.
public struct CounterLayout: Sendable {
    public let countersPerSlot: Int
    public let workerCrashes: Int
    public let workerReplacements: Int

    public init(countersPerSlot: Int, workerCrashes: Int, workerReplacements: Int) {
        self.countersPerSlot = countersPerSlot
        self.workerCrashes = workerCrashes
        self.workerReplacements = workerReplacements
    }
}
