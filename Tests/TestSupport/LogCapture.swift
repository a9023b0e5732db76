public import Logging
import Synchronization

/// Captures log lines (`level message metadata`) for assertions: that an event was logged, and that no token or
/// password ever is.
public final class LogCapture: LogHandler, @unchecked Sendable {
    // @unchecked Sendable: every access holds the lock.
    private let lines = Mutex<[String]>([])
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let rendered = "\(event.level) \(event.message) \(event.metadata ?? [:])"
        lines.withLock { $0.append(rendered) }
    }

    /// Every line so far.
    public var all: [String] { lines.withLock { $0 } }
}
