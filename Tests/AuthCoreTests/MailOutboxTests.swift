import Foundation
import MariaDB
import TestSupport
import Testing

@testable import AuthCore

/// #16: the outbox that mail goes through. Senders on several hosts claim rows with committed conditional updates;
/// a sender that dies leaves a lease that runs out, and the message goes again.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class MailOutboxTests {
    let fixture: AuthFixture
    let outboxA: MailOutboxStore
    let outboxB: MailOutboxStore

    init() throws {
        fixture = try AuthFixture()
        outboxA = MailOutboxStore(database: try fixture.auth().database)
        outboxB = MailOutboxStore(database: try fixture.auth().database)
    }

    var now: Date { fixture.clock.now() }

    @Test func twoSendersNeverClaimOneMessageAndALapsedLeaseIsClaimedAgain() throws {
        for n in 0..<5 {
            try outboxA.enqueue(id: Identifier.make(at: now), recipient: "r\(n)@example.com", message: Array("m\(n)".utf8), now: now)
        }
        let lease = now.addingTimeInterval(60)
        let a = try outboxA.claimDue(sender: "host-a", now: now, leaseUntil: lease, limit: 3)
        let b = try outboxB.claimDue(sender: "host-b", now: now, leaseUntil: lease, limit: 10)
        #expect(a.count == 3 && b.count == 2)
        #expect(Set(a.map(\.id)).isDisjoint(with: b.map(\.id)))
        #expect(try outboxB.claimDue(sender: "host-b", now: now, leaseUntil: lease, limit: 10).isEmpty, "all leased")
        // A sends its first, retries its second later, and dies holding its third.
        try outboxA.markSent(id: a[0].id, sender: "host-a", now: now)
        try outboxA.markRetry(id: a[1].id, sender: "host-a", next: now.addingTimeInterval(300), error: "421 try later")
        // Marks from a sender that does not hold the row change nothing.
        try outboxB.markSent(id: a[2].id, sender: "host-b", now: now)
        fixture.clock.advance(61)
        let again = try outboxB.claimDue(sender: "host-b", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(Set(again.map(\.id)) == Set([a[2].id] + b.map(\.id)), "the lapsed leases, not the sent one nor the one waiting")
        let third = try #require(again.first { $0.id == a[2].id })
        #expect(third.attempts == 2 && third.message == a[2].message)
        let stats = try outboxA.stats(now: now)
        #expect(stats.sent == 1 && stats.queued == 4 && stats.failed == 0)
        #expect(stats.oldestQueuedAge >= 61)
        #expect(
            try fixture.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'sent' AND LENGTH(message) = 0") == 1,
            "a sent message keeps no body (its link held a live token)")
        try outboxB.markFailed(id: third.id, sender: "host-b", error: "550 no such user")
        #expect(try outboxA.stats(now: now).failed == 1)
        fixture.clock.advance(300)
        #expect(try outboxA.claimDue(sender: "host-a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10).map(\.id).contains(a[1].id))
    }
}
