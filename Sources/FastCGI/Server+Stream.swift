import CFastCGI
import CFastCGIReadGuard
import Glibc
public import Logging
import ProcessManager
import Synchronization

extension Server {
    /// Answers one connection's worth of bytes as this server would answer them on a socket: libfcgi's record and
    /// parameter parsing, the `CONTENT_LENGTH` and body handling, `handler` for each request, kept-connection
    /// requests one after another. Returns the bytes written back.
    ///
    /// For the fuzz target of the FastCGI layer (`scripts/fuzz fastcgi`): the connection is a socket pair, nothing
    /// is listened on, and input longer than the pair's buffer is cut there (the writer would block).
    public static func answer(
        connectionBytes input: [UInt8], configuration: ServerConfiguration, handler: any RequestHandler, logger: Logger
    ) -> [UInt8] {
        guard FCGX_Init() == 0 else { return [] }
        var pair: [Int32] = [-1, -1]
        guard CFastCGI_socketpair(&pair) == 0 else { return [] }
        let server = Server(listenFD: -1, configuration: configuration, logger: logger)
        _ = fcntl(pair[1], F_SETFL, fcntl(pair[1], F_GETFL) | O_NONBLOCK)
        input.withUnsafeBytes { bytes in _ = write(pair[1], bytes.baseAddress, bytes.count) }
        shutdown(pair[1], Int32(SHUT_WR))
        let output = DrainedOutput(fd: pair[1])
        let drain = drainThread(output)

        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        FCGX_InitRequest(request, -1, 0)
        request.pointee.ipcFd = pair[0]
        request.pointee.keepConnection = 1
        while request.pointee.ipcFd >= 0 {
            guard server.checkParams(request.pointee.ipcFd) == .safe else {
                close(request.pointee.ipcFd)
                request.pointee.ipcFd = -1
                FCGX_Free(request, 0)
                break
            }
            CFastCGIReadGuard_begin(request.pointee.ipcFd, request.pointee.requestId)
            if FCGX_Accept_r(request) < 0 {
                if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
                break
            }
            guard case .answered = server.respond(to: request, with: handler) else { break }
            let closeAfter = request.pointee.keepConnection == 0
            request.pointee.keepConnection = 1
            FCGX_Finish_r(request)
            if closeAfter, request.pointee.ipcFd >= 0 {
                close(request.pointee.ipcFd)
                request.pointee.ipcFd = -1
                FCGX_Free(request, 0)
            }
        }
        request.deallocate()
        server.heldAnswers.sendAll()
        output.done.store(true, ordering: .releasing)
        drain?.join()
        close(pair[1])
        return output.collected.withLock { $0 }
    }

    /// Reads what the server writes to the other end of the pair while it runs (the pair's buffer is small: a server
    /// that answers many records would otherwise block in write), until the end or, once `done`, nothing more waits.
    private static func drainThread(_ output: DrainedOutput) -> OSThread? {
        try? OSThread(name: "fcgi-fuzz-drain") {
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                var peer = pollfd(fd: output.fd, events: Int16(POLLIN), revents: 0)
                if poll(&peer, 1, 1) == 0 {
                    if output.done.load(ordering: .acquiring) { return }
                    continue
                }
                let got = chunk.withUnsafeMutableBytes { read(output.fd, $0.baseAddress, $0.count) }
                if got <= 0 { return }
                output.collected.withLock { $0 += chunk[0..<got] }
            }
        }
    }

    /// What the next request's parameters on a connection are to libfcgi.
    enum ParamsCheck {
        /// They may go to libfcgi (or whatever else comes: libfcgi finds out).
        case safe
        /// The peer closed the connection before sending anything (nginx ending a kept connection, as after every
        /// `auth_request` subrequest): closed here, without libfcgi's read and failing accept.
        case closed
        /// Over the limits: closed unread, with a warning.
        case refused
    }

    /// Whether the next request's parameters on `connection` may go to libfcgi: complete within 256 KiB and 5 s, no
    /// name or value longer than 256 KiB (libfcgi aborts the process on a length whose allocation fails).
    func checkParams(_ connection: Int32) -> ParamsCheck {
        switch CFastCGI_params_guard(connection, 262_144, 262_144, 5000) {
        case 0: return .safe
        case 1: return .closed
        default:
            logger.warning(
                "a FastCGI request with oversized or incomplete parameters was closed unread",
                metadata: ["event": "fastcgi_params_refused"])
            return .refused
        }
    }

    /// Waits until `connection` is readable (`true`) or the monotonic `deadline` in milliseconds passes (`false`).
    static func waitReadable(_ connection: Int32, until deadline: Int) -> Bool {
        var peer = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
        while true {
            let left = deadline - monotonicMilliseconds()
            guard left > 0 else { return false }
            let ready = poll(&peer, 1, Int32(left))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    /// The clock of held answers (``Response/holdMilliseconds`` counts from it): CLOCK_MONOTONIC in milliseconds.
    public static func monotonicMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }
}

/// What the drain thread of ``Server/answer(connectionBytes:configuration:handler:logger:)`` collects.
private final class DrainedOutput: Sendable {
    let fd: Int32
    let collected = Mutex<[UInt8]>([])
    let done = Atomic(false)
    init(fd: Int32) { self.fd = fd }
}
