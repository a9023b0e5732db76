import Glibc

/// An error from a system call, with the raw `errno` kept for the log.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The call that failed, e.g. `bind`.
    public let call: String
    /// The raw `errno` value.
    public let errno: Int32
    /// Extra context for operators (a path or an address); never secret.
    public let context: String

    public init(call: String, errno: Int32, context: String = "") {
        self.call = call
        self.errno = errno
        self.context = context
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return context.isEmpty
            ? "\(call) failed: \(reason) (errno \(errno))"
            : "\(call) \(context) failed: \(reason) (errno \(errno))"
    }
}

/// Runs a system call, retrying on `EINTR`, and throws ``SystemError`` with the `errno` read at once.
@discardableResult
public func syscall(_ name: String, context: String = "", _ body: () -> Int32) throws(SystemError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: name, errno: code, context: context)
    }
}
