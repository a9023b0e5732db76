import Glibc

/// Runs a program with bytes on its standard input and its output (standard output and error, the first 4 KiB)
/// collected, within a time limit: the `sendmail` transport.
public enum PipedCommand {
    /// How the program ended.
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Still running at the limit: killed.
        case timedOut
        /// Could not be started (the reason).
        case notStarted(String)
    }

    public struct Outcome: Sendable, Equatable {
        public var ending: Ending
        /// What it printed, decoded leniently and cut at 4 KiB.
        public var output: String
    }

    /// Runs `path` with `arguments` (not through a shell), writes `input` to it, and waits for it to end.
    /// SIGPIPE must be ignored in the process (a program that exits without reading would otherwise kill it).
    public static func run(_ path: String, arguments: [String], input: [UInt8], timeoutMilliseconds: Int) -> Outcome {
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard openPipe(&toChild) else { return Outcome(ending: .notStarted("pipe: errno \(errno)"), output: "") }
        guard openPipe(&fromChild) else {
            close(toChild[0])
            close(toChild[1])
            return Outcome(ending: .notStarted("pipe: errno \(errno)"), output: "")
        }
        let started = spawn(path, arguments: arguments, input: toChild[0], output: fromChild[1])
        close(toChild[0])
        close(fromChild[1])
        guard case .success(let pid) = started else {
            close(toChild[1])
            close(fromChild[0])
            if case .failure(let reason) = started { return Outcome(ending: .notStarted(reason.description), output: "") }
            return Outcome(ending: .notStarted(""), output: "")
        }
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        let output = exchange(input: input, writeFD: toChild[1], readFD: fromChild[0], deadline: deadline)
        return Outcome(ending: reap(pid, deadline: deadline), output: output)
    }

    /// A pipe whose ends close on exec (the child gets its copies through dup2, which clears the flag).
    private static func openPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    private static func spawn(_ path: String, arguments: [String], input: Int32, output: Int32) -> Result<pid_t, SystemError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        return Spawn.run(path, arguments: arguments, actions: &actions)
    }

    /// Writes the input (then closes it: end of file) while reading the output, until the output ends or the
    /// deadline passes.
    private static func exchange(input: [UInt8], writeFD: Int32, readFD: Int32, deadline: Int) -> String {
        var written = 0
        var writer = writeFD
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK)
        if input.isEmpty {
            close(writer)
            writer = -1
        }
        defer {
            if writer >= 0 { close(writer) }
            close(readFD)
        }
        while true {
            let left = deadline - monotonicMilliseconds()
            guard left > 0 else { break }
            var fds = [pollfd(fd: readFD, events: Int16(POLLIN), revents: 0), pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)]
            let ready = poll(&fds, writer >= 0 ? 2 : 1, Int32(min(left, 1000)))
            if ready < 0 && errno != EINTR { break }
            if writer >= 0 && fds[1].revents != 0 {
                let n = input.withUnsafeBytes { write(writer, $0.baseAddress! + written, input.count - written) }
                if n > 0 { written += n }
                if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count {
                    close(writer)  // the end of the message (or the program stopped reading)
                    writer = -1
                }
            }
            if fds[0].revents != 0 {
                let n = read(readFD, &buffer, buffer.count)
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { break }
                if n > 0 && collected.count < 4096 { collected += buffer.prefix(min(n, 4096 - collected.count)) }
            }
        }
        return String(decoding: collected, as: UTF8.self)
    }

    /// Waits for the program until the deadline; kills it after.
    private static func reap(_ pid: pid_t, deadline: Int) -> Ending {
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { return .notStarted("waitpid: errno \(errno)") }
            if monotonicMilliseconds() >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return .timedOut
            }
            usleep(5_000)
        }
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
    }

    private static func monotonicMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }
}
