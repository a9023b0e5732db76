import CProcess
import Glibc

/// A plain OS thread for blocking work (accept, libfcgi reads, Connector/C calls), off Swift's cooperative pool.
public struct OSThread {
    private let handle: pthread_t

    /// Boxes the thread body so it can cross `pthread_create`'s `void *` argument.
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts a thread running `body`.
    ///
    /// - Throws: ``SystemError`` when `pthread_create` fails.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { argument in
                let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        guard status == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create", errno: status, context: name)
        }
        _ = CProcess_set_thread_name(thread, String(name.prefix(15)))
        handle = thread
    }

    /// Waits for the thread to end.
    public func join() {
        _ = pthread_join(handle, nil)
    }
}
