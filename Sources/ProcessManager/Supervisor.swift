import CProcess
import Glibc
public import Logging

/// Runs the ``WorkerPool`` state machine with real processes: binds nothing itself (the socket is open already),
/// spawns workers by executing this binary again (`serve --worker`, the listen socket on fd 0, never a bare `fork`
/// of a Swift process), reaps them, and turns signals into pool commands.
public final class Supervisor {
    private var pool: WorkerPool
    private let listenFD: Int32
    private let executable: String
    private let workerArguments: [String]
    private let logger: Logger
    private let validateReload: () -> String?
    private var slotOfPID: [Int32: Int] = [:]
    private let start = ContinuousClock.now
    /// The periodic cleanup runs as a child process (`cleanup --lock`), so the supervisor holds no database connection.
    private let cleanupInterval: Double
    private let cleanupArguments: [String]
    private var nextCleanup: Double
    private var cleanupPID: Int32?
    /// The pool's shared counters (workers get them on fd 3); `nil` if they could not be created.
    private let counters: (SharedCounters, Int32)?
    private var spawnedWorkers = 0
    private let logFile: String?

    private let layout: CounterLayout

    /// - Parameters:
    ///   - counters: The layout of the pool's shared counters (the service's metrics decide it, not the supervisor).
    ///   - validateReload: Checks the configuration before a reload; returns a problem to refuse it.
    public init(listenFD: Int32, workers: Int, drainTimeout: Int, workerArguments: [String], counters layout: CounterLayout,
                logger: Logger, cleanupInterval: Int, cleanupArguments: [String], logFile: String?,
                validateReload: @escaping () -> String?) {
        self.logFile = logFile
        self.layout = layout
        counters = try? SharedCounters.create(slots: workers, countersPerSlot: layout.countersPerSlot)
        self.cleanupInterval = Double(cleanupInterval)
        self.cleanupArguments = cleanupArguments
        nextCleanup = cleanupInterval > 0 ? Double(min(cleanupInterval, 60)) : .infinity
        pool = WorkerPool(configuration: .init(workers: workers, drainTimeout: Double(drainTimeout)))
        self.listenFD = listenFD
        self.workerArguments = workerArguments
        self.logger = logger
        self.validateReload = validateReload
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        executable = length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : CommandLine.arguments[0]
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The signal a worker sends its supervisor when it accepts connections (see `WorkerPool.ready`): a real-time
    /// signal, so that several workers reporting at once are all counted (standard signals merge) and each report
    /// carries its sender's pid.
    public static var readySignal: Int32 { __libc_current_sigrtmin() + 1 }

    /// Runs until the pool has stopped; returns the exit status.
    public func run() -> Int32 {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, Self.readySignal, SIGCHLD] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        if let status = perform(pool.start(now: now)) { return status }
        while true {
            let wait = max(0.001, min(1.0, min(pool.nextDeadline ?? (now + 1), nextCleanup) - now))
            var timeout = timespec(tv_sec: Int(wait), tv_nsec: Int((wait - Double(Int(wait))) * 1e9))
            var info = siginfo_t()
            let received = sigtimedwait(&signals, &info, &timeout)
            var actions: [PoolAction] = []
            switch received {
            case SIGCHLD:
                actions = reap()
            case Self.readySignal:
                actions = pool.ready(pid: info._sifields._kill.si_pid, now: now)
            case SIGTERM, SIGINT, SIGQUIT:
                actions = pool.handle(.stop, now: now)
            case SIGHUP:
                if let problem = validateReload() {
                    logger.error("reload refused: the configuration is invalid; workers keep running", metadata: ["problem": "\(problem)"])
                } else {
                    actions = pool.handle(.reload, now: now)
                }
            case SIGUSR1:
                if let logFile {
                    do {
                        try ProcessSetup.redirectStandardError(to: logFile)
                        logger.notice("log file reopened; telling the workers", metadata: ["log.file": "\(logFile)"])
                    } catch {
                        logger.error("cannot reopen the log file; logging on to the old one", metadata: ["error": "\(error)"])
                    }
                    for pid in pool.livePIDs { kill(pid, SIGUSR1) }
                } else {
                    logger.notice("SIGUSR1: logs go to standard error; nothing to reopen")
                }
            default:
                break  // timeout or EINTR
            }
            actions += reap()  // a SIGCHLD can be merged with another signal
            actions += pool.tick(now: now)
            if now >= nextCleanup && cleanupPID == nil && pool.phase == .running {
                nextCleanup = now + cleanupInterval
                switch spawn(cleanupArguments, listenSocketOnStdin: false) {
                case .success(let pid): cleanupPID = pid
                case .failure(let error): logger.error("cannot start the periodic cleanup", metadata: ["error": "\(error)"])
                }
            }
            if let status = perform(actions) { return status }
        }
    }

    /// Reaps every exited child (no zombies), telling the pool.
    private func reap() -> [PoolAction] {
        var actions: [PoolAction] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { break }
            if pid == cleanupPID {
                cleanupPID = nil
                if status != 0 { logger.error("the periodic cleanup failed", metadata: ["status": "\(status)"]) }
                continue
            }
            slotOfPID[pid] = nil
            // A worker that died while hashing a password leaves its permits behind: free them for the others.
            if let freed = counters?.0.reclaimPermits(heldBy: pid), freed > 0 {
                logger.notice("password-hash permits of an exited worker freed",
                              metadata: ["worker.pid": "\(pid)", "permits": "\(freed)"])
            }
            let exit: ExitStatus = (status & 0x7F) == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
            let crashesBefore = pool.crashes
            actions += pool.exited(pid: pid, status: exit, now: now)
            if pool.crashes > crashesBefore { counters?.0.addGlobal(layout.workerCrashes) }
        }
        return actions
    }

    /// Performs actions; returns an exit status when the pool is done.
    private func perform(_ actions: [PoolAction]) -> Int32? {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .spawn(let slot):
                var arguments = workerArguments
                if counters != nil { arguments += ["--metrics-slots", String(pool.configuration.workers), "--metrics-slot", String(slot)] }
                spawnedWorkers += 1
                if spawnedWorkers > pool.configuration.workers { counters?.0.addGlobal(layout.workerReplacements) }
                switch spawn(arguments, listenSocketOnStdin: true) {
                case .success(let pid):
                    slotOfPID[pid] = slot
                    logger.info("worker started", metadata: ["worker.pid": "\(pid)", "worker.slot": "\(slot)"])
                    queue += pool.spawned(slot: slot, pid: pid, now: now)
                case .failure(let error):
                    queue += pool.spawnFailed(slot: slot, reason: "\(error)", now: now)
                }
            case .stop(let pid):
                kill(pid, SIGTERM)
            case .kill(let pid):
                kill(pid, SIGKILL)
            case .log(let level, let message):
                switch level {
                case .info: logger.info("\(message)")
                case .notice: logger.notice("\(message)")
                case .warning: logger.warning("\(message)")
                case .error: logger.error("\(message)")
                }
            case .exit(let status):
                return status
            }
        }
        return nil
    }

    /// Executes this binary with `arguments` (a worker gets the listen socket on fd 0; the cleanup gets /dev/null).
    private func spawn(_ arguments: [String], listenSocketOnStdin: Bool) -> Result<Int32, SystemError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if !listenSocketOnStdin {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        } else if listenFD != 0 {
            posix_spawn_file_actions_adddup2(&actions, listenFD, 0)
        }
        if listenSocketOnStdin, let (_, fd) = counters { posix_spawn_file_actions_adddup2(&actions, fd, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The worker starts with no blocked signals and default handlers; it sets up its own.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arguments = [executable] + arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard status == 0 else { return .failure(SystemError(call: "posix_spawn", errno: status, context: executable)) }
        return .success(pid)
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
