import CFastCGI
import CFastCGIReadGuard
import Glibc
public import Logging
import ProcessManager
import Synchronization

/// Answers requests on one server thread. Each thread gets its own handler (and so its own database connection),
/// so a handler needs no locking and need not be `Sendable`.
public protocol RequestHandler: AnyObject {
    /// Answers one request. Must not trap: a bad request is a 4xx response.
    func handle(_ request: Request) -> Response
}

/// Tunables of a ``Server``.
public struct ServerConfiguration: Sendable {
    /// Threads in this process, each serving one FastCGI connection at a time.
    public var threads: Int
    /// Largest request body read into memory; a larger one gets ``payloadTooLarge`` without being read, and its
    /// connection is closed after the response.
    public var maxBodyBytes: Int
    /// How long a pending new connection may wait while threads idle on kept connections before one of them
    /// closes its idle connection to take the new one (so no request stalls behind persistent connections).
    public var keptConnectionYieldMilliseconds: Int32
    /// The response for a body over the limit (status 413).
    public var payloadTooLarge: Response
    /// Whether a TCP peer (its address as text) may connect; `nil`: any. A refused peer is disconnected before any
    /// byte is read, so it can neither send a request nor forge `REMOTE_ADDR`. Unix-socket peers are not asked.
    public var allowPeer: (@Sendable (String) -> Bool)?
    /// The response for a `CONTENT_LENGTH` that is not a decimal number of bytes (negative, signed, spaced, too
    /// large): status 400, and the connection is closed after it (its stream cannot be trusted).
    public var invalidContentLength = Response(
        status: 400, headers: [("Content-Type", "text/plain")], body: Array("Invalid Content-Length\n".utf8))
    /// After this many requests the server stops by itself (a supervisor replaces the process); 0 = never.
    public var maxRequests: Int = 0
    /// During a stop, how long an idle kept connection is still watched for one more request (answered, then the
    /// connection is closed) before it is closed unused. nginx picks kept connections most recently used first, so
    /// under load each one gets its next request within milliseconds: closing them only after that request (and
    /// with the response) keeps nginx from sending a request into a connection that is being closed, which it
    /// cannot retry for a POST. A connection still idle after this long is one nginx is not using.
    public var drainLingerMilliseconds: Int32 = 1000
    /// Answers held at most at once (``Response/holdMilliseconds``; each holds a descriptor); more go out at once.
    public var heldAnswers = 1024

    public init(
        threads: Int = 8,
        maxBodyBytes: Int = 64 * 1024,
        keptConnectionYieldMilliseconds: Int32 = 50,
        payloadTooLarge: Response = Response(
            status: 413, headers: [("Content-Type", "text/plain")],
            body: Array("Request body too large\n".utf8))
    ) {
        self.threads = threads
        self.maxBodyBytes = maxBodyBytes
        self.keptConnectionYieldMilliseconds = keptConnectionYieldMilliseconds
        self.payloadTooLarge = payloadTooLarge
    }
}

/// A threaded FastCGI responder over libfcgi.
///
/// Every thread waits with `poll(2)` on the shared non-blocking listen socket and on a wake-up pipe, accepts on its
/// own (no accept mutex: a thread waiting on its kept connection never blocks the others), and hands the connected
/// descriptor to libfcgi, which reads the request. ``stop()`` writes to the pipe: threads waiting to accept leave at
/// once, busy ones finish their request first, and each kept connection is closed after its next response (or
/// after ``ServerConfiguration/drainLingerMilliseconds`` without a request).
public final class Server: Sendable {
    let configuration: ServerConfiguration
    private let listenFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopping = Atomic<Bool>(false)
    private let yieldClaimed = Atomic<Bool>(false)
    /// Threads of this process waiting for a new connection (a pending connection is theirs: no kept connection is
    /// given up for it while one of them is merely late, as on a loaded host).
    private let idleAcceptors = Atomic<Int>(0)
    private let served = Atomic<Int>(0)
    /// Answers sent later, without a request thread (``Response/holdMilliseconds``).
    let heldAnswers: HeldAnswers
    let logger: Logger

    /// Creates a server on an open listen socket.
    ///
    /// - Throws: ``SystemError`` when the wake-up pipe cannot be created.
    public convenience init(listening socket: ListenSocket, configuration: ServerConfiguration, logger: Logger) throws {
        precondition(configuration.threads > 0, "threads must be positive")
        self.init(listenFD: socket.fd, configuration: configuration, logger: logger)
        guard wakeRead >= 0 else { throw SystemError(call: "pipe2", errno: errno) }
    }

    /// A server on a listen descriptor (-1: none, for ``answer(connectionBytes:configuration:handler:logger:)``).
    init(listenFD: Int32, configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        heldAnswers = HeldAnswers(capacity: configuration.heldAnswers)
        self.listenFD = listenFD
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        _ = CFastCGI_pipe2(&fds, O_CLOEXEC | O_NONBLOCK)
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    /// Whether libfcgi's reads pass through the read guard (this program's `OS_Read` is the one libfcgi binds to).
    public static var readGuardIsActive: Bool { CFastCGIReadGuard_isActive() == 1 }

    /// Requests answered so far by this process.
    public var requestsServed: Int { served.load(ordering: .relaxed) }

    /// Whether ``stop()`` was called.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Serves until ``stop()`` is called and every thread has finished its request.
    ///
    /// - Parameter makeHandler: Called once on each server thread with the thread's index.
    /// - Throws: ``SystemError`` when libfcgi or a thread cannot be started.
    public func run(makeHandler: @escaping @Sendable (Int) -> any RequestHandler) throws {
        guard FCGX_Init() == 0 else { throw SystemError(call: "FCGX_Init", errno: ENOMEM) }
        if !Self.readGuardIsActive {
            logger.warning("libfcgi's reads bypass the read guard", metadata: ["event": "fastcgi_read_guard_inactive"])
        }
        try heldAnswers.start()
        var threads: [OSThread] = []
        for index in 0..<configuration.threads {
            do {
                threads.append(
                    try OSThread(name: "fcgi-\(index)") { [self] in
                        let handler = makeHandler(index)
                        serveConnections(handler: handler)
                    })
            } catch {
                stop()
                for thread in threads { thread.join() }
                throw error
            }
        }
        for thread in threads { thread.join() }
        heldAnswers.sendAll()
    }

    /// Begins a graceful stop: no new connections are accepted, requests in flight finish. Safe from any thread.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - One thread

    private func serveConnections(handler: any RequestHandler) {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        // listen_sock -1: libfcgi must never accept by itself (it would block where our wake-up cannot reach it);
        // when a connection ends, its accept fails at once with EBADF and control comes back here.
        FCGX_InitRequest(request, -1, 0)
        let waiter = CFastCGI_accept_waiter_create(listenFD, wakeRead, heldAnswers.returnRead)
        defer {
            drop(request)
            request.deallocate()
            if waiter >= 0 { close(waiter) }
        }
        guard waiter >= 0 else {
            logger.critical("cannot create the accept waiter (epoll)", metadata: ["errno": "\(errno)"])
            return
        }
        // (Not `while !isStopping`: a thread that holds a kept connection when the stop comes lingers on it first.)
        while true {
            if request.pointee.ipcFd < 0 {
                guard let (connection, kept) = acceptConnection(waiter: waiter) else { break }
                request.pointee.ipcFd = connection
                // FCGX_Accept_r first finishes the "previous" request and would close a descriptor it thinks is not
                // kept; the next BEGIN_REQUEST record sets the real flag.
                request.pointee.keepConnection = 1
                // A kept connection handed back after a held answer: idle until nginx's next request, like any other.
                if kept { continue }
            } else {
                switch waitOnKeptConnection(request.pointee.ipcFd) {
                case .readable:
                    break
                case .stop:
                    // Stopping: one more request may still come on this connection; it is answered (and the
                    // connection closed after it), or the connection is closed unused.
                    guard lingerBeforeClosing(request.pointee.ipcFd) else { return }
                case .yieldToNewConnection:
                    drop(request)
                    continue
                }
            }
            switch checkParams(request.pointee.ipcFd) {
            case .safe: break
            case .closed:
                drop(request, peerClosed: true)
                continue
            case .refused:
                drop(request)
                continue
            }
            CFastCGIReadGuard_begin(request.pointee.ipcFd, request.pointee.requestId)
            if FCGX_Accept_r(request) < 0 {
                // The connection closed or spoke garbage; libfcgi closed it. Back to accepting.
                if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
                continue
            }
            guard case .answered(let inputRead) = respond(to: request, with: handler) else {
                // Handed over with its connection (a held answer): back to accepting.
                _ = served.add(1, ordering: .relaxed)
                continue
            }
            // Close after this response when nginx did not ask to keep the connection, or when stopping. The close is
            // ours (`closeAfterResponse`), not libfcgi's: its lingering close waits with select(), which cannot take
            // a descriptor above 1023 (a process with many threads and database connections has them).
            let closeAfter = request.pointee.keepConnection == 0 || isStopping
            request.pointee.keepConnection = 1
            FCGX_Finish_r(request)
            if closeAfter { closeAfterResponse(request, inputRead: inputRead) }
            let total = served.add(1, ordering: .relaxed).newValue
            if configuration.maxRequests > 0 && total >= configuration.maxRequests { stop() }
        }
    }

    /// Closes the request's idle connection at once (`peerClosed`: nginx has closed its end, nothing to shut down).
    /// (libfcgi's own close lingers up to 2 s for the peer to hang up first, which nginx never does on a kept
    /// connection.)
    private func drop(_ request: UnsafeMutablePointer<FCGX_Request>, peerClosed: Bool = false) {
        let connection = request.pointee.ipcFd
        if connection >= 0 {
            if !peerClosed { shutdown(connection, Int32(SHUT_RDWR)) }
            close(connection)
            request.pointee.ipcFd = -1
        }
        FCGX_Free(request, 0)
    }

    /// While stopping: waits up to the linger time for one more request on an idle kept connection. `true` when
    /// one came (serve it; the connection closes after its response), `false` when the connection was closed unused.
    /// (Readable can also mean nginx closed it: libfcgi then finds out and the thread leaves.)
    private func lingerBeforeClosing(_ connection: Int32) -> Bool {
        Self.waitReadable(connection, until: Self.monotonicMilliseconds() + Int(configuration.drainLingerMilliseconds))
    }

    /// Waits for a new connection, or a kept one handed back after a held answer (`kept`); `nil` when the server is
    /// stopping.
    private func acceptConnection(waiter: Int32) -> (connection: Int32, kept: Bool)? {
        idleAcceptors.add(1, ordering: .relaxed)
        defer { idleAcceptors.subtract(1, ordering: .relaxed) }
        while !isStopping {
            let events = CFastCGI_accept_waiter_wait(waiter, listenFD, wakeRead)
            if events < 0 {
                logger.error("epoll_wait on the listen socket failed", metadata: ["errno": "\(errno)"])
                usleep(100_000)
                continue
            }
            // The listen socket's readiness wakes one waiter of every process sharing it (EPOLLEXCLUSIVE): this one
            // takes the connection even when the stop's wake-up came with it, else nobody is woken for it. A returned
            // connection that came with it is announced again, for another thread.
            guard events & 1 != 0 else {
                if events & 2 != 0 { return nil }
                if events & 4 != 0, let kept = heldAnswers.takeReturned() { return (kept, true) }
                continue
            }
            if events & 4 != 0 { heldAnswers.signalReturned() }
            let connection = CFastCGI_accept_cloexec(listenFD)
            if connection >= 0 {
                yieldClaimed.store(false, ordering: .releasing)
                if let allowPeer = configuration.allowPeer, let peer = ListenSocket.peerAddress(of: connection),
                    !allowPeer(peer)
                {
                    logger.warning(
                        "connection from a peer not in server.allowed_clients closed",
                        metadata: ["event": "peer_refused", "peer": "\(peer)"])
                    close(connection)
                    continue
                }
                return (connection, false)
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO:
                continue  // another thread or process took it, or the peer left
            default:
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: back off instead of spinning.
                logger.error("accept failed", metadata: ["errno": "\(errno)"])
                usleep(10_000)
            }
        }
        return nil
    }

    private enum KeptConnectionEvent {
        case readable
        case stop
        case yieldToNewConnection
    }

    /// Waits for the next request on a kept connection, for a stop, or until a new connection has waited too long
    /// with every other thread busy.
    private func waitOnKeptConnection(_ connection: Int32) -> KeptConnectionEvent {
        var newConnectionPending = false
        while true {
            // While a new connection is pending, stop watching the (level-triggered) listen socket and re-check
            // after the yield delay instead.
            let count: nfds_t = newConnectionPending ? 2 : 3
            let timeout: Int32 = newConnectionPending ? configuration.keptConnectionYieldMilliseconds : -1
            // (On the stack: this runs before every request of a kept connection.)
            let (ready, connectionEvents, wakeEvents, listenEvents) = withUnsafeTemporaryAllocation(
                of: pollfd.self, capacity: 3
            ) { fds in
                fds[0] = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                fds[1] = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
                fds[2] = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                let ready = poll(fds.baseAddress, count, timeout)
                return (ready, fds[0].revents, fds[1].revents, fds[2].revents)
            }
            if ready < 0 {
                if errno == EINTR { continue }
                return .readable  // let libfcgi find out what is wrong with the connection
            }
            // A request already waiting is answered even when the stop came at the same time.
            if connectionEvents != 0 {
                return .readable
            }
            if wakeEvents != 0 {
                return .stop
            }
            if !newConnectionPending {
                if listenEvents != 0 { newConnectionPending = true }
                continue
            }
            if ready == 0 {
                var listen = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                if idleAcceptors.load(ordering: .relaxed) == 0, poll(&listen, 1, 0) > 0,
                    yieldClaimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
                {
                    return .yieldToNewConnection
                }
                newConnectionPending = false
            }
        }
    }
}
