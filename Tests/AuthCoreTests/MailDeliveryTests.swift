import Foundation
import Logging
import MariaDB
import Synchronization
import TestSupport
import Testing

@testable import AuthCore

/// A transport that answers each recipient as told (`250 ok` when nothing is left), and remembers what it was given
/// (the real transports are tested end to end).
final class ScriptedTransport: MailTransport, @unchecked Sendable {
    let answers: Mutex<[String: [MailSendOutcome]]>
    let seen = Mutex<[String]>([])
    init(_ answers: [String: [MailSendOutcome]]) { self.answers = Mutex(answers) }
    func send(_ message: [UInt8], id: String, to recipient: String) -> MailSendOutcome {
        seen.withLock { $0.append(recipient) }
        return answers.withLock { $0[recipient, default: []].isEmpty ? .sent("250 ok") : $0[recipient]!.removeFirst() }
    }
}

/// #16: delivery from the outbox: a 4xx or a lost connection waits and tries again (doubling), a 5xx gives up at
/// once, and a message still failing after `maxAge` is given up.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class MailDeliveryTests {
    let fixture: AuthFixture
    let delivery: MailDeliveryService
    let outbox: MailOutboxStore

    init() throws {
        fixture = try AuthFixture()
        let database = try fixture.auth().database
        delivery = MailDeliveryService(
            database: database, clock: fixture.clock, logger: Logger(label: "test", factory: { [logs = fixture.logs] _ in logs }),
            maxAge: .seconds(3600), firstRetry: .seconds(30))
        outbox = MailOutboxStore(database: database)
    }

    func enqueue(_ recipient: String) throws -> String {
        let id = Identifier.make(at: fixture.clock.now())
        try outbox.enqueue(id: id, recipient: recipient, message: Array("hello".utf8), now: fixture.clock.now())
        return id
    }

    @Test func outcomesAreRecordedAndRetriesBackOff() throws {
        _ = try enqueue("ok@example.com")
        _ = try enqueue("bounce@example.com")
        _ = try enqueue("later@example.com")
        let transport = ScriptedTransport([
            "bounce@example.com": [.permanent("550 no such user")], "later@example.com": [.transient("421 busy")],
        ])
        #expect(try delivery.deliverDue(sender: "t", transport: transport) == .init(sent: 1, retried: 1, failed: 1))
        #expect(try delivery.stats().queued == 1 && delivery.stats().sent == 1 && delivery.stats().failed == 1)
        #expect(fixture.logs.all.contains { $0.contains("mail_rejected") && $0.contains("550 no such user") })
        // Not due again before its wait (30 s, then 60 s, ...).
        let retry = ScriptedTransport(["later@example.com": [.transient("421 still busy"), .transient("421 still busy")]])
        #expect(try delivery.deliverDue(sender: "t", transport: retry) == .init())
        fixture.clock.advance(31)
        #expect(try delivery.deliverDue(sender: "t", transport: retry) == .init(retried: 1))
        fixture.clock.advance(31)
        #expect(try delivery.deliverDue(sender: "t", transport: retry) == .init(), "the second wait is 60 s")
        fixture.clock.advance(30)
        #expect(try delivery.deliverDue(sender: "t", transport: retry) == .init(retried: 1))
        // Still failing after maxAge (an hour here): given up.
        fixture.clock.advance(3600)
        #expect(try delivery.deliverDue(sender: "t", transport: ScriptedTransport(["later@example.com": [.transient("421")]])) == .init(failed: 1))
        #expect(try delivery.stats().queued == 0)
        #expect(retry.seen.withLock { $0 } == ["later@example.com", "later@example.com"])
    }

    @Test func theQueueIsCountedListedRetriedAndDropped() throws {
        let fresh = try enqueue("fresh@example.com")  // never tried: no retry counted
        #expect(try delivery.stats() == MailQueueStats(queued: 1, sent: 0, retried: 0, failed: 0, oldestQueuedAge: 0))
        fixture.clock.advance(1)
        _ = try enqueue("later@example.com")
        fixture.clock.advance(1)
        _ = try enqueue("bounce@example.com")
        let transport = ScriptedTransport([
            "later@example.com": [.transient("421 busy"), .transient("421 busy")], "bounce@example.com": [.permanent("550 no")],
            "fresh@example.com": [.transient("421 busy")],
        ])
        _ = try delivery.deliverDue(sender: "t", transport: transport)
        fixture.clock.advance(31)
        _ = try delivery.deliverDue(sender: "t", transport: transport)
        let stats = try delivery.stats()
        #expect(stats.queued == 1 && stats.sent == 1 && stats.failed == 1 && stats.retried == 2, "\(stats)")
        #expect(stats.oldestQueuedAge == 32)
        let unsent = try delivery.unsent()
        #expect(unsent.map(\.recipient) == ["later@example.com", "bounce@example.com"])
        #expect(unsent.map(\.status) == ["queued", "failed"] && unsent[1].lastError == "550 no")
        // Retry now skips the back-off wait (60 s now); a failed message has no body left to retry.
        #expect(try delivery.deliverDue(sender: "t", transport: transport) == .init())
        #expect(try delivery.retryNow(id: unsent[1].id) == 0)
        #expect(try delivery.retryNow(id: nil) == 1)
        #expect(try delivery.deliverDue(sender: "t", transport: transport) == .init(sent: 1))
        #expect(try delivery.drop(id: unsent[1].id) && !delivery.drop(id: unsent[1].id))
        #expect(try !delivery.drop(id: fresh), "a sent message is kept until the cleanup")
        #expect(try delivery.unsent().isEmpty)
    }
}
