import Glibc
public import Logging

/// A long-running helper child of the supervisor (the mail sender): not a worker (it serves no requests and holds
/// no permits), started with the pool, started again when it exits (after a wait that doubles, up to a minute, while
/// it keeps exiting within a minute of its start), asked to stop with the pool, and restarted on a reload so that it
/// reads the new configuration.
public struct CompanionSpec: Sendable, Equatable {
    /// For the logs (`mail sender`).
    public let name: String
    /// Its command line (this binary's arguments, without the executable).
    public let arguments: [String]

    public init(name: String, arguments: [String]) {
        self.name = name
        self.arguments = arguments
    }
}

/// The supervisor's view of one companion.
struct Companion<C: Clock> where C.Duration == Duration {
    let spec: CompanionSpec
    private(set) var pid: Int32?
    private var startAt: C.Instant
    private var startedAt: C.Instant?
    private var backoff: Duration = .seconds(1)
    /// A stop was asked (the pool is stopping): not started again.
    private(set) var stopping = false
    /// A restart was asked (a reload): started again at once when it exits.
    private var restarting = false

    init(spec: CompanionSpec, now: C.Instant) {
        self.spec = spec
        startAt = now
    }

    /// Whether it should be started now.
    func isDue(now: C.Instant) -> Bool { pid == nil && !stopping && now >= startAt }

    mutating func started(pid: Int32, now: C.Instant) {
        self.pid = pid
        startedAt = now
    }

    /// A start that failed: tried again after the back-off.
    mutating func startFailed(now: C.Instant) {
        startAt = now.advanced(by: backoff)
        backoff = min(backoff * 2, .seconds(60))
    }

    /// Its exit: when to start it again, and whether that exit deserves an error line (an unasked exit).
    mutating func exited(status: ProcessExit, now: C.Instant) -> Bool {
        pid = nil
        let ranLong = startedAt.map { $0.duration(to: now) >= .seconds(60) } ?? false
        if ranLong { backoff = .seconds(1) }
        defer { restarting = false }
        if stopping { return false }
        if restarting {
            startAt = now
            return false
        }
        startAt = now.advanced(by: backoff)
        backoff = min(backoff * 2, .seconds(60))
        return true
    }

    /// Asks it to stop for good (the pool is stopping); the signal to send, if it runs.
    mutating func stop() -> Int32? {
        guard !stopping else { return nil }
        stopping = true
        return pid
    }

    /// Asks it to restart (a reload); the pid to signal, if it runs.
    mutating func restart() -> Int32? {
        guard let pid, !stopping else { return nil }
        restarting = true
        return pid
    }
}

extension Supervisor {
    /// Starts the companions that are due while the pool serves, and asks them to stop once it stops.
    func tendCompanions() {
        let now = clock.now
        for index in companions.indices {
            if pool.phase == .stopping || pool.phase == .stopped {
                if let pid = companions[index].stop() { control.send(SIGTERM, to: pid) }
                continue
            }
            guard companions[index].isDue(now: now) else { continue }
            switch control.spawn(companions[index].spec.arguments, asWorker: false) {
            case .success(let pid):
                companions[index].started(pid: pid, now: now)
                logger.info("\(companions[index].spec.name) started", metadata: ["pid": "\(pid)"])
            case .failure(let error):
                companions[index].startFailed(now: now)
                logger.error("cannot start the \(companions[index].spec.name)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Whether `pid` was a companion (then its exit is handled here, not as a worker's).
    func companionExited(pid: Int32, status: ProcessExit) -> Bool {
        guard let index = companions.firstIndex(where: { $0.pid == pid }) else { return false }
        if companions[index].exited(status: status, now: clock.now) {
            logger.error(
                "the \(companions[index].spec.name) exited; starting it again shortly", metadata: ["status": "\(status)"])
        }
        return true
    }

    /// A reload: each running companion is stopped and started again with the new configuration.
    func restartCompanions() {
        for index in companions.indices {
            if let pid = companions[index].restart() { control.send(SIGTERM, to: pid) }
        }
    }

    /// The pool is done: any companion still running is asked to stop (it is not waited for).
    func stopCompanions() {
        for index in companions.indices {
            if let pid = companions[index].stop() ?? companions[index].pid { control.send(SIGTERM, to: pid) }
        }
    }
}
