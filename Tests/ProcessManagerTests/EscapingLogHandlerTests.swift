import Logging
import ProcessManager
import Synchronization
import Testing

/// Nothing a client sends can forge or hide a log line.
@Suite struct EscapingLogHandlerTests {
    final class Recorder: LogHandler, @unchecked Sendable {
        // @unchecked Sendable: every access holds the lock.
        private let events = Mutex<[(String, Logger.Metadata)]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { events.withLock { $0.append((event.message.description, event.metadata ?? [:])) } }
        var all: [(String, Logger.Metadata)] { events.withLock { $0 } }
    }

    @Test(arguments: [
        ("/api/auth/x\n2026-12-04 info jwt-authd: forged", "/api/auth/x\\n2026-12-04 info jwt-authd: forged"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("bell\u{07}nul\u{00}del\u{7F}c1\u{85}", "bell\\u{7}nul\\u{0}del\\u{7F}c1\\u{85}"),
        ("line\u{2028}para\u{2029}", "line\\u{2028}para\\u{2029}"),
        ("plain ünïcödé \\ backslash", "plain ünïcödé \\ backslash"),
    ])
    func escapesControlCharacters(raw: String, expected: String) {
        #expect(EscapingLogHandler.escape(raw) == expected)
    }

    @Test func escapesTheMessageAndEveryMetadataKeyAndValue() throws {
        let recorder = Recorder()
        let logger = Logger(label: "test", factory: { _ in EscapingLogHandler(recorder) })
        logger.info(
            "request\nforged",
            metadata: [
                "http.route": "/x\ny", "nested": ["k\n": "v\r"], "list": ["a\nb"], "key\u{1B}": "plain",
            ])
        let (message, metadata) = try #require(recorder.all.first)
        #expect(message == "request\\nforged")
        #expect(metadata["http.route"] == .string("/x\\ny"))
        #expect(metadata["nested"] == .dictionary(["k\\n": .string("v\\r")]))
        #expect(metadata["list"] == .array([.string("a\\nb")]))
        #expect(metadata["key\\u{1B}"] == .string("plain"))
        #expect(!"\(metadata)".contains("\n"))
    }
}
