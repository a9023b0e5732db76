import ArgumentParser
import AuthCore
import AuthHTTP
import Dispatch
import FastCGI
import FoundationEssentials
import Glibc
import Logging
import Passwords
import ProcessManager
import Synchronization

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve FastCGI requests (on --listen, or on a listening socket inherited on fd 0).",
        discussion: """
            Signals: TERM, INT or QUIT stop gracefully (no new connections, requests in flight finish, bounded by \
            server.drain_timeout); a second one stops at once.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: "unix:/path/to.sock or host:port (overrides JWT_AUTHD_LISTEN).")
    var listen: String?

    @Option(help: "Threads per worker process (overrides JWT_AUTHD_THREADS).")
    var threads: Int?

    @Option(help: "Worker processes (overrides JWT_AUTHD_WORKERS; default: the number of cores).")
    var workers: Int?

    @Option(name: .customLong("max-requests"), help: "Replace a worker after this many requests (0 = never).")
    var maxRequests: Int?

    @Flag(help: .hidden)
    var worker = false

    @Option(help: "When started as root: run as this user after binding the socket (the socket file becomes theirs).")
    var user: String?

    @Option(help: "With --user: run with this group (default: the user's primary group).")
    var group: String?

    @Option(name: .customLong("supervisor-pid"), help: .hidden)
    var supervisorPID: Int32?

    /// The signal to send the supervisor once this worker accepts connections (given by a supervisor that waits for
    /// it; an older supervisor gives none, and would die of a signal it does not handle).
    @Option(name: .customLong("ready-signal"), help: .hidden)
    var readySignal: Int32?

    @Option(name: .customLong("metrics-slot"), help: .hidden)
    var metricsSlot: Int?

    @Option(name: .customLong("metrics-slots"), help: .hidden)
    var metricsSlots: Int?

    @Option(name: .customLong("socket-mode"), help: "Octal file mode of the unix socket, e.g. 0660 (overrides JWT_AUTHD_SOCKET_MODE).")
    var socketMode: String?

    func run() throws {
        // Before any other thread exists: signals go to the watcher thread only.
        ProcessSignals.block(Self.stopSignals + [SIGHUP, SIGUSR1, SIGUSR2, ProcessSignals.workerReady])
        let graph = ServiceGraph.loadOrExit(configPath: options.config, flags: flags, serviceUser: user)
        let config = graph.config
        try redirectLogIfConfigured(config)
        let logger = Self.bootstrapLogging(level: config.log.level)
        let socket = try openSocket(config)
        warnIfOpenToOtherHosts(socket, config: config, logger: logger)
        try dropPrivilegesIfAsked(socket: socket, logFile: config.log.file, logger: logger)
        if !inheritsSocket(config) {
            let status = supervise(socket: socket, config: config, logger: logger)
            socket.close()
            throw ExitCode(status)
        }
        // A worker ends with its supervisor (and exits at once if the supervisor is already gone).
        if worker, let supervisorPID, !ProcessSignals.terminateWithParent(expectedParent: supervisorPID) { throw ExitCode(0) }
        try serveRequests(socket: socket, graph: graph, logger: logger)
    }

    static let stopSignals = [SIGTERM, SIGINT, SIGQUIT]

    /// The command-line values, by configuration key.
    private var flags: [String: String] {
        var flags: [String: String] = [:]
        if let listen { flags["listen"] = listen }
        if let threads { flags["server.threads"] = String(threads) }
        if let workers { flags["server.workers"] = String(workers) }
        if let maxRequests { flags["server.max_requests"] = String(maxRequests) }
        if let socketMode { flags["server.socket_mode"] = socketMode }
        return flags
    }

    /// A worker started by the supervisor, or a process started with a listening socket on fd 0 and no --listen
    /// (spawn-fcgi, mod_fcgid), serves on fd 0 as one worker. Otherwise it binds, and supervises workers.
    private func inheritsSocket(_ config: Config) -> Bool { worker || config.listen == nil }

    /// A worker inherits standard error from its supervisor, already on the log file (and may lack the rights to
    /// open its path after dropping privileges): it reopens only on SIGUSR1.
    private func redirectLogIfConfigured(_ config: Config) throws {
        guard let file = config.log.file, !worker else { return }
        do {
            try ProcessSetup.redirectStandardError(to: file)
        } catch {
            writeStandardError("jwt-authd: \(error)\n")
            throw ExitCode(78)
        }
    }

    private static func bootstrapLogging(level: String) -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = EscapingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "jwt-authd")
        logger[metadataKey: "pid"] = "\(getpid())"
        return logger
    }

    /// A TCP listener that other hosts can reach lets any of them send requests and set `REMOTE_ADDR` unless
    /// `server.allowed_clients` names the web server.
    private func warnIfOpenToOtherHosts(_ socket: ListenSocket, config: Config, logger: Logger) {
        guard !worker, ListenSocket.isReachableFromOtherHosts(socket.address), config.server.allowedClients.isEmpty else {
            return
        }
        logger.warning(
            """
            listening on \(socket.address), reachable from other hosts, without server.allowed_clients: any peer can \
            send requests and set REMOTE_ADDR (throttling, metrics, session records); set server.allowed_clients to \
            the web server's address, or listen on a unix socket or loopback
            """, metadata: ["event": "tcp_listener_unrestricted"])
    }

    /// The listening socket: bound to the configured address, or inherited on fd 0.
    private func openSocket(_ config: Config) throws -> ListenSocket {
        let inherited = inheritsSocket(config)
        if !worker, let listen = config.listen, listen != "fd0", listen != "stdin", ListenSocket.inheritedSocketIsPresent() {
            // Under mod_fcgid or spawn-fcgi a configured address would leave the inherited socket unserved (every
            // request hangs): say so instead of guessing.
            writeStandardError(
                """
                jwt-authd: a listening socket was inherited on fd 0 (mod_fcgid, spawn-fcgi) but listen = \(listen) is \
                configured: remove listen (JWT_AUTHD_LISTEN) to serve fd 0 as one worker, or use --listen fd0 to \
                supervise workers on it

                """)
            throw ExitCode(78)
        }
        do {
            let address = inherited ? ListenAddress.inherited : try ListenAddress(parsing: config.listen!)
            return try ListenSocket.open(address, mode: config.server.socketMode)
        } catch {
            writeStandardError("jwt-authd: cannot listen: \(error)\n")
            throw ExitCode(1)
        }
    }

    /// Started as root with `--user`: hand the socket and log file over, then drop to that user.
    private func dropPrivilegesIfAsked(socket: ListenSocket, logFile: String?, logger: Logger) throws {
        guard let user, !worker else { return }
        do {
            var path: String?
            if case .unix(let socketPath) = socket.address { path = socketPath }
            try ProcessSetup.dropPrivileges(user: user, group: group, socketPath: path, logFile: logFile)
            logger.info("running as \(user)", metadata: ["uid": "\(getuid())", "gid": "\(getgid())"])
        } catch {
            writeStandardError("jwt-authd: \(error)\n")
            throw ExitCode(1)
        }
    }

    /// Runs the supervisor until it stops; its exit status.
    private func supervise(socket: ListenSocket, config: Config, logger: Logger) -> Int32 {
        var pool = WorkerPool<ContinuousClock>.Configuration(
            workers: config.server.workers,
            drainTimeout: config.server.drainTimeout)
        pool.emergencyThreshold = config.server.emergencyRestartThreshold
        pool.emergencyInterval = config.server.emergencyRestartInterval
        var configuration = Supervisor<ContinuousClock>.Configuration(
            pool: pool, workerArguments: workerArguments(), counters: ServiceMetrics.counterLayout)
        if config.server.cleanupInterval > .zero { configuration.cleanupInterval = config.server.cleanupInterval }
        configuration.cleanupArguments = ["cleanup", "--lock"] + (options.config.map { ["--config", $0] } ?? [])
        // The outbox's sender, when mail leaves at all (a first attempt within a second of a message's commit).
        if config.mail.transport != .none {
            configuration.companions = [
                CompanionSpec(
                    name: "mail sender",
                    arguments: ["mail", "deliver", "--supervisor-pid", String(getpid())] + (options.config.map { ["--config", $0] } ?? []))
            ]
        }
        configuration.logFile = config.log.file
        let control = SystemProcessControl(
            listenFD: socket.fd, slots: config.server.workers,
            countersPerSlot: ServiceMetrics.countersPerSlot,
            signals: Supervisor<ContinuousClock>.signals)
        let supervisor = Supervisor(
            configuration: configuration, control: control, clock: ContinuousClock(), logger: logger,
            validateReload: { [options, flags, user] in
                // The same composition root as a start: a reload is refused exactly when a start would be.
                do {
                    _ = try ServiceGraph.load(configPath: options.config, flags: flags, serviceUser: user)
                    return nil
                } catch {
                    return "\(error)"
                }
            })
        logger.info(
            "supervising",
            metadata: [
                "listen": "\(socket.address)", "workers": "\(config.server.workers)", "threads": "\(config.server.threads)",
                "mail": "\(MailTransports.describe(config.mail))",
            ])
        if config.mail.transport == .none {
            logger.notice(
                "mail.transport is none: password reset answers 503 mail_unavailable until a transport is set",
                metadata: ["event": "mail_off"])
        }
        if config.mfa.encryptionKeys.isEmpty {
            logger.notice(
                "mfa.encryption_keys is empty: second factors answer 503 mfa_unavailable (and users who have one cannot sign in) until a key is set",
                metadata: ["event": "mfa_off"])
        }
        return supervisor.run()
    }

    /// Serves requests on the socket until stopped: this process is a worker (of a supervisor, or alone on fd 0).
    private func serveRequests(socket: ListenSocket, graph: ServiceGraph, logger: Logger) throws {
        let config = graph.config
        let counters = sharedCounters(logger: logger)
        let metrics = ServiceMetrics(counters: counters)
        var configuration = ServerConfiguration(
            threads: config.server.threads, maxBodyBytes: config.server.maxBodyBytes,
            payloadTooLarge: AuthResponder.payloadTooLargeResponse)
        configuration.maxRequests = config.server.maxRequests
        configuration.invalidContentLength = AuthResponder.invalidContentLengthResponse
        if !config.server.allowedClients.isEmpty {
            let allowed = ClientAddressResolver(trustedProxies: config.server.allowedClients)
            configuration.allowPeer = { allowed.isTrusted($0) }
        }
        let server = try Server(listening: socket, configuration: configuration, logger: logger)
        try watchSignals(server: server, config: config, logger: logger)

        // Logins wait for a free core instead of time-slicing each other's Argon2id (see HashingLimiter); the limit
        // holds for the whole pool (the permits live in the memory the supervisor shares, next to the counters). The
        // hashes run on low-priority threads, and only some of the request threads may wait for them.
        let passwords = config.passwords
        let lane = try WorkLane(
            name: "hash", threads: passwords.hashLimit, capacity: passwords.hashQueueLimit(threads: config.server.threads),
            wait: passwords.hashWait, nice: 10, permits: counters.permits(limit: passwords.hashLimit))
        let hashing = HashingLimiter(graph.hasher, lane: PoolHashingLane(lane: lane))
        Argon2Hasher.keepReusableBuffers(hashing.limit)
        logger.info(
            "serving",
            metadata: [
                "listen": "\(socket.address)", "threads": "\(config.server.threads)", "password_hashes": "\(hashing.limit)",
                "password_hash_queue": "\(lane.capacity)",
                "database": "\(config.databaseURL)", "environment": "\(config.environment.rawValue)",
            ])
        // Tell the supervisor this worker is about to accept connections (during a reload it then stops the old one).
        if worker, let supervisorPID, let readySignal { kill(supervisorPID, readySignal) }
        try server.run { [logger] _ in graph.responder(hasher: hashing, metrics: metrics, logger: logger) }
        socket.close()
        logger.info("stopped", metadata: ["requests": "\(server.requestsServed)"])
    }

    /// Under a supervisor the counters are shared by the pool (fd 3); alone, they are this process's.
    private func sharedCounters(logger: Logger) -> SharedCounters {
        if worker, let metricsSlot, let metricsSlots {
            do {
                return try SharedCounters.attach(
                    fd: 3, slots: metricsSlots, slot: metricsSlot,
                    countersPerSlot: ServiceMetrics.countersPerSlot)
            } catch {
                logger.error("shared counters unavailable; this worker's metrics stay private", metadata: ["error": "\(error)"])
            }
        }
        return SharedCounters.privateMemory(countersPerSlot: ServiceMetrics.countersPerSlot)
    }

    /// Stop signals drain the server (a second one exits at once); SIGUSR1 reopens the log file.
    private func watchSignals(server: Server, config: Config, logger: Logger) throws {
        let drainTimeout = config.server.drainTimeout
        let stopRequests = Atomic<Int>(0)
        try ProcessSignals.watch(Self.stopSignals + [SIGHUP, SIGUSR1, SIGUSR2]) { signal in
            guard Self.stopSignals.contains(signal) else {
                Self.handleOtherSignal(signal, logFile: config.log.file, logger: logger)
                return
            }
            if stopRequests.add(1, ordering: .relaxed).newValue > 1 {
                logger.notice("second stop signal: exiting now", metadata: ["signal": "\(signal)"])
                Glibc.exit(0)
            }
            logger.info("stopping: finishing requests in flight", metadata: ["signal": "\(signal)"])
            server.stop()
            // Bound the drain: a request stuck on a dead peer must not keep the process forever.
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(drainTimeout.wholeSeconds)) {
                logger.warning(
                    "drain timeout reached: exiting with requests still in flight",
                    metadata: ["server.drain_timeout": "\(DurationText.format(drainTimeout))"])
                Glibc.exit(0)
            }
        }
    }

    private static func handleOtherSignal(_ signal: Int32, logFile: String?, logger: Logger) {
        guard signal == SIGUSR1, let file = logFile else {
            logger.notice("signal ignored by a single worker", metadata: ["signal": "\(signal)"])
            return
        }
        do {
            try ProcessSetup.redirectStandardError(to: file)
            logger.notice("log file reopened", metadata: ["log.file": "\(file)"])
        } catch {
            logger.error("cannot reopen the log file; logging on to the old one", metadata: ["error": "\(error)"])
        }
    }

    /// The command line of a worker: this command's options, with `--worker`.
    private func workerArguments() -> [String] {
        var arguments = [
            "serve", "--worker", "--supervisor-pid", String(getpid()),
            "--ready-signal", String(ProcessSignals.workerReady),
        ]
        if let config = options.config { arguments += ["--config", config] }
        if let threads { arguments += ["--threads", String(threads)] }
        if let maxRequests { arguments += ["--max-requests", String(maxRequests)] }
        return arguments
    }
}

/// The worker's low-priority lane over the pool's shared permits, as the password limiter's turns.
private struct PoolHashingLane: HashingLane {
    let lane: WorkLane
    var limit: Int { lane.threads }
    func enter() -> Bool { lane.enter() }
    func leave() { lane.leave() }
    func run(_ work: @escaping @Sendable () -> Void) -> Bool { lane.run(work) }
}
