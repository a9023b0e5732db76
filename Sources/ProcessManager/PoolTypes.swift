/// How a worker process ended.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a `waitpid` status.
    public init(waitStatus status: Int32) {
        self = (status & 0x7F) == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal):
            "signal \(signal)\(signal == 9 ? " (SIGKILL)" : signal == 11 ? " (SIGSEGV)" : signal == 6 ? " (SIGABRT)" : "")"
        }
    }
}

/// What the supervisor must do. The state machine decides; the driver performs these with real processes.
public enum PoolAction: Sendable, Equatable {
    /// Start a worker for `slot` (the driver reports its pid with ``WorkerPool/spawned(slot:pid:)``, and the
    /// worker itself, once it accepts connections, with ``WorkerPool/ready(pid:)``).
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

/// The pool's phases and the only moves between them: `running ⇄ reloading`, `running/reloading → stopping →
/// stopped`. Stopped is final.
public enum PoolPhase: Sendable, Equatable {
    case running
    case reloading
    case stopping
    case stopped

    /// Whether the pool may move from this phase to `next`.
    public func canMove(to next: PoolPhase) -> Bool {
        switch (self, next) {
        case (.running, .reloading), (.reloading, .running), (.running, .stopping), (.reloading, .stopping),
            (.stopping, .stopped):
            true
        default:
            false
        }
    }

    /// Whether workers that die are replaced.
    var replacesWorkers: Bool { self == .running || self == .reloading }
}

/// Formats a duration for a log line: milliseconds below a second, whole seconds above.
func describe(_ duration: Duration) -> String {
    let seconds = duration.seconds
    return seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : "\(Int(seconds.rounded())) s"
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
