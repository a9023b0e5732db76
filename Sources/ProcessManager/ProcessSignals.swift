import CProcess
import Glibc

/// Process-wide signal handling for a threaded responder.
///
/// libfcgi installs handlers that only set a flag, and in a threaded process the threads blocked in `accept`
/// never see it (the process ignores SIGTERM). Instead the signals are blocked in every thread and one watcher
/// thread takes them with `sigwait`, then tells the server to stop.
public enum ProcessSignals {
    /// The signal a worker sends its supervisor when it accepts connections (see ``WorkerPool/ready(pid:)``): a
    /// real-time signal, so that several workers reporting at once are all counted (standard signals merge) and each
    /// report carries its sender's pid.
    public static var workerReady: Int32 { __libc_current_sigrtmin() + 1 }

    /// Blocks `signals` in the calling thread and every thread it starts later, and ignores SIGPIPE (a peer that
    /// went away must give EPIPE, not kill the process). Call it before any other thread is started.
    public static func block(_ signals: [Int32]) {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        _ = pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Asks the kernel to send SIGTERM to this process when its parent (the supervisor) dies, so that no orphaned
    /// worker keeps serving. Returns whether the parent was still alive afterwards (if not, the caller should exit).
    public static func terminateWithParent(expectedParent: Int32) -> Bool {
        _ = CProcess_terminate_with_parent()
        return getppid() == expectedParent
    }

    /// Starts a thread that takes `signals` (blocked beforehand with ``block(_:)``) one by one and calls
    /// `handler` with each.
    ///
    /// - Throws: ``SystemError`` when the thread cannot be started.
    public static func watch(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) throws {
        let thread = try OSThread(name: "signals") {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            while true {
                var received: Int32 = 0
                if sigwait(&set, &received) == 0 { handler(received) }
            }
        }
        _ = thread
    }
}
