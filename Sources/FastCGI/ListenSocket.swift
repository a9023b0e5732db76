import Glibc
import ProcessManager

/// A listening socket the responder accepts FastCGI connections on.
///
/// Owns its file descriptor unless it was inherited on fd 0, which belongs to whoever started the process.
public final class ListenSocket {
    /// The listening file descriptor.
    public let fd: Int32
    /// What it listens on.
    public let address: ListenAddress
    private var closed = false

    private init(fd: Int32, address: ListenAddress) {
        self.fd = fd
        self.address = address
    }

    /// Whether file descriptor 0 is a listening socket (the spawn-fcgi / mod_fcgid convention).
    public static func inheritedSocketIsPresent() -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 else { return false }
        return accepting != 0
    }

    /// Opens (or adopts) the listening socket.
    ///
    /// - Parameters:
    ///   - address: Where to listen.
    ///   - mode: The file mode of a unix socket, so that nginx's worker user can connect (e.g. `0o660`).
    ///   - backlog: The `listen(2)` backlog.
    /// - Throws: ``SystemError`` with the failing call, or ``ListenAddress/ParseError`` for fd 0 that is no
    ///   listening socket.
    public static func open(_ address: ListenAddress, mode: UInt32 = 0o660, backlog: Int32 = 1024) throws -> ListenSocket {
        let socket: ListenSocket
        switch address {
        case .inherited:
            guard inheritedSocketIsPresent() else {
                throw ListenAddress.ParseError(input: "fd0", reason: "file descriptor 0 is not a listening socket")
            }
            socket = ListenSocket(fd: 0, address: address)
        case .unix(let path):
            socket = ListenSocket(fd: try openUnix(path: path, mode: mode_t(mode), backlog: backlog), address: address)
        case .tcp(let host, let port):
            socket = ListenSocket(fd: try openTCP(host: host, port: port, backlog: backlog), address: address)
        }
        // Accept is driven by poll(2) in every thread (and possibly in several processes sharing the socket):
        // whoever loses the race must get EAGAIN, not block.
        let flags = fcntl(socket.fd, F_GETFL)
        _ = fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK)
        return socket
    }

    /// Closes the socket (and removes a unix socket file this process created).
    public func close() {
        guard !closed else { return }
        closed = true
        if case .inherited = address { return }
        _ = Glibc.close(fd)
        if case .unix(let path) = address { _ = unlink(path) }
    }

    deinit { close() }

    private static func openUnix(path: String, mode: mode_t, backlog: Int32) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ListenAddress.ParseError(input: path, reason: "the path is too long for a unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        // A socket file left by a crashed process is replaced; one that a live server answers on is not.
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemError(call: "bind", errno: EEXIST, context: "\(path) (exists and is not a socket)")
            }
            if socketAnswers(&address) {
                throw SystemError(call: "bind", errno: EADDRINUSE, context: "\(path) (another server listens)")
            }
            unlink(path)
        }
        let fd = try syscall("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try syscall("bind", context: path) { bind(fd, generic, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
            try syscall("chmod", context: path) { chmod(path, mode) }
            try syscall("listen", context: path) { listen(fd, backlog) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    private static func socketAnswers(_ address: inout sockaddr_un) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    private static func openTCP(host: String, port: UInt16, backlog: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SystemError(
                call: "getaddrinfo", errno: EINVAL,
                context: "\(host) (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(list) }
        let location = "\(host):\(port)"
        let fd = try syscall("socket") { socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            var on: Int32 = 1
            try syscall("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) }
            try syscall("bind", context: location) { bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) }
            try syscall("listen", context: location) { listen(fd, backlog) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }
}

extension ListenSocket {
    /// The IP address of a connected TCP peer as text (`127.0.0.1`, `::1`), or `nil` for a unix socket or an error.
    static func peerAddress(of connection: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(connection, $0, &length) }
        }
        guard got == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var ip = address.pointee.sin_addr
                    return inet_ntop(AF_INET, &ip, &text, socklen_t(text.count)).map { String(cString: $0) }
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var ip = address.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count)).map { String(cString: $0) }
                }
            }
        default:
            return nil
        }
    }

    /// Whether a TCP listen address is reachable from other hosts (not loopback).
    public static func isReachableFromOtherHosts(_ address: ListenAddress) -> Bool {
        guard case .tcp(let host, _) = address else { return false }
        return !(host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]")
    }
}
