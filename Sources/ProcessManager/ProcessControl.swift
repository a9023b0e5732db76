import CProcess
import Glibc

/// What the supervisor does to the operating system, behind a protocol so that its decisions can be unit-tested
/// without processes (``SystemProcessControl`` in production).
public protocol ProcessControl: AnyObject {
    /// Whether workers get the pool's shared counters (on fd 3, with their slot on the command line).
    var sharesCounters: Bool { get }
    /// Starts this binary with `arguments`: a worker gets the listen socket on fd 0 (and the counters on fd 3), any
    /// other child /dev/null.
    func spawn(_ arguments: [String], asWorker: Bool) -> Result<Int32, SystemError>
    /// Sends `signal` to `pid`.
    func send(_ signal: Int32, to pid: Int32)
    /// The next child that has exited, if any; never blocks.
    func reapOne() -> (pid: Int32, status: ProcessExit)?
    /// Waits at most `timeout` for one of the supervisor's signals; its number and its sender's pid.
    func waitForSignal(timeout: Duration) -> (signal: Int32, sender: Int32)?
    /// Points standard error at the log file again (after logrotate moved it).
    func reopenLog(_ path: String) throws
    /// Frees the password-hash permits an exited worker held; how many it freed.
    func reclaimPermits(of pid: Int32) -> Int
    /// Adds one to a global counter of the pool's shared memory.
    func count(_ counter: Int)
}

/// The real processes: `posix_spawn` of this binary, `kill`, `waitpid`, `sigtimedwait`, and the pool's shared
/// counters (a memfd each worker maps).
public final class SystemProcessControl: ProcessControl {
    private let listenFD: Int32
    private let executable: String
    private var signals = sigset_t()
    /// The pool's shared counters and their descriptor; `nil` if they could not be created.
    private let counters: (SharedCounters, Int32)?

    /// - Parameters:
    ///   - listenFD: The listening socket, handed to every worker as fd 0.
    ///   - signals: The signals the supervisor waits for; blocked here, in the calling thread.
    public init(listenFD: Int32, slots: Int, countersPerSlot: Int, signals watched: [Int32]) {
        self.listenFD = listenFD
        counters = try? SharedCounters.create(slots: slots, countersPerSlot: countersPerSlot)
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        executable =
            length > 0
            ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : CommandLine.arguments[0]
        sigemptyset(&signals)
        for signal in watched { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    public var sharesCounters: Bool { counters != nil }

    public func send(_ signal: Int32, to pid: Int32) { kill(pid, signal) }

    public func reapOne() -> (pid: Int32, status: ProcessExit)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        return pid > 0 ? (pid, ProcessExit(waitStatus: status)) : nil
    }

    public func waitForSignal(timeout: Duration) -> (signal: Int32, sender: Int32)? {
        let parts = timeout.components
        var wait = timespec(tv_sec: Int(parts.seconds), tv_nsec: Int(parts.attoseconds / 1_000_000_000))
        var info = siginfo_t()
        let received = sigtimedwait(&signals, &info, &wait)
        return received > 0 ? (received, info._sifields._kill.si_pid) : nil
    }

    public func reopenLog(_ path: String) throws { try ProcessSetup.redirectStandardError(to: path) }

    public func reclaimPermits(of pid: Int32) -> Int { counters?.0.reclaimPermits(heldBy: pid) ?? 0 }

    public func count(_ counter: Int) { counters?.0.addGlobal(counter) }

    public func spawn(_ arguments: [String], asWorker: Bool) -> Result<Int32, SystemError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if !asWorker {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        } else if listenFD != 0 {
            posix_spawn_file_actions_adddup2(&actions, listenFD, 0)
        }
        if asWorker, let (_, fd) = counters { posix_spawn_file_actions_adddup2(&actions, fd, 3) }
        return Spawn.run(executable, arguments: arguments, actions: &actions)
    }
}
