import ArgumentParser
import AuthCore
import AuthHTTP
import FastCGI
import Foundation
import Logging
import Passwords
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

    @Option(help: "Threads in this process (overrides JWT_AUTHD_THREADS).")
    var threads: Int?

    @Option(name: .customLong("socket-mode"), help: "Octal file mode of the unix socket, e.g. 0660 (overrides JWT_AUTHD_SOCKET_MODE).")
    var socketMode: String?

    func run() throws {
        // Before any other thread exists: signals go to the watcher thread only.
        let stopSignals = [SIGTERM, SIGINT, SIGQUIT]
        ProcessSignals.block(stopSignals + [SIGHUP, SIGUSR1, SIGUSR2])

        var flags: [String: String] = [:]
        if let listen { flags["listen"] = listen }
        if let threads { flags["server.threads"] = String(threads) }
        if let socketMode { flags["server.socket_mode"] = socketMode }
        let config: Config
        do {
            config = try Config.load(sources: try ConfigLoading.sources(configPath: options.config, flags: flags))
        } catch {
            ConfigLoading.fail(error)
        }

        let settings: AuthSettings
        let hasher: Argon2Hasher
        do {
            settings = AuthSettings(config: config, keys: try TokenKeys.load(config.tokens, readFile: ConfigSources.readTextFile))
            hasher = try Argon2Hasher(parameters: AuthSettings.argon2Parameters(config))
        } catch let error as ConfigError {
            ConfigLoading.fail(error)
        } catch {
            FileHandle.standardError.write(Data("jwt-authd: the password hasher refused its parameters: \(error)\n".utf8))
            throw ExitCode(78)
        }

        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "jwt-authd")
        logger[metadataKey: "pid"] = "\(getpid())"

        let socket: ListenSocket
        do {
            let address = try config.listen.map { try ListenAddress(parsing: $0) } ?? .inherited
            socket = try ListenSocket.open(address, mode: config.server.socketMode)
        } catch {
            FileHandle.standardError.write(Data("jwt-authd: cannot listen: \(error)\n".utf8))
            throw ExitCode(1)
        }

        let server = try Server(
            listening: socket,
            configuration: ServerConfiguration(
                threads: config.server.threads,
                maxBodyBytes: config.server.maxBodyBytes,
                payloadTooLarge: AuthResponder.payloadTooLargeResponse),
            logger: logger)

        let drainTimeout = config.server.drainTimeoutSeconds
        let stopRequests = Atomic<Int>(0)
        try ProcessSignals.watch(stopSignals + [SIGHUP, SIGUSR1, SIGUSR2]) { [logger] signal in
            guard stopSignals.contains(signal) else {
                logger.notice("signal ignored by a single worker", metadata: ["signal": "\(signal)"])
                return
            }
            if stopRequests.add(1, ordering: .relaxed).newValue > 1 {
                logger.notice("second stop signal: exiting now", metadata: ["signal": "\(signal)"])
                Foundation.exit(0)
            }
            logger.info("stopping: finishing requests in flight", metadata: ["signal": "\(signal)"])
            server.stop()
            // Bound the drain: a request stuck on a dead peer must not keep the process forever.
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: TimeInterval(drainTimeout))
                logger.warning("drain timeout reached: exiting with requests still in flight",
                               metadata: ["server.drain_timeout": "\(drainTimeout)s"])
                Foundation.exit(0)
            }
        }

        logger.info("serving", metadata: [
            "listen": "\(socket.address)", "threads": "\(config.server.threads)",
            "database": "\(config.databaseURL)", "environment": "\(config.environment.rawValue)",
        ])
        try server.run { [logger] _ in
            AuthResponder(config: config, settings: settings, hasher: hasher, logger: logger)
        }
        socket.close()
        logger.info("stopped", metadata: ["requests": "\(server.requestsServed)"])
    }
}
