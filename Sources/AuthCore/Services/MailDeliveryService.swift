public import FoundationEssentials
public import Logging

/// What a transport made of one message.
public enum MailSendOutcome: Sendable, Equatable {
    /// Accepted (the server's answer, for the log).
    case sent(String)
    /// Not now: a 4xx answer, a connection or TLS failure. Tried again later.
    case transient(String)
    /// Never: a 5xx answer. Given up at once.
    case permanent(String)
}

/// Sends one whole RFC 5322 message (`mail.transport`: a folder of `.eml` files, sendmail, SMTP).
public protocol MailTransport {
    /// Delivers `message` (CRLF lines) to `recipient`; `id` is the outbox row's, the same on every attempt.
    func send(_ message: [UInt8], id: String, to recipient: String) -> MailSendOutcome
}

/// Delivers the outbox: claims what is due, hands it to the transport, and records the outcome. At least once: a
/// sender that dies after the server's acceptance and before its mark sends the message again when its lease runs
/// out, with the same Message-ID.
public struct MailDeliveryService {
    let outbox: MailOutboxStore
    let clock: any AuthClock
    let logger: Logger
    /// After this long in the queue a message that still fails is given up.
    public let maxAge: Duration
    /// The first retry's wait; each next one doubles, up to an hour.
    public let firstRetry: Duration
    /// How long a claim lasts: longer than one send may take.
    public let lease: Duration

    public init(
        database: Database, clock: any AuthClock = SystemClock(), logger: Logger, maxAge: Duration, firstRetry: Duration = .seconds(30),
        lease: Duration = .seconds(300)
    ) {
        outbox = MailOutboxStore(database: database)
        self.clock = clock
        self.logger = logger
        self.maxAge = maxAge
        self.firstRetry = firstRetry
        self.lease = lease
    }

    /// What one pass did.
    public struct Report: Sendable, Equatable {
        public var sent = 0
        public var retried = 0
        public var failed = 0
    }

    /// Claims up to `limit` due messages as `sender` and delivers them.
    public func deliverDue(sender: String, transport: any MailTransport, limit: Int = 20) throws(AuthError) -> Report {
        let now = clock.now()
        var report = Report()
        for message in try outbox.claimDue(sender: sender, now: now, leaseUntil: now.addingTimeInterval(lease.timeInterval), limit: limit) {
            let outcome = transport.send(message.message, id: message.id, to: message.recipient)
            let at = clock.now()
            switch outcome {
            case .sent(let answer):
                try outbox.markSent(id: message.id, sender: sender, now: at)
                report.sent += 1
                logger.info("mail sent", metadata: ["event": "mail_sent", "mail.id": "\(message.id)", "answer": "\(answer)"])
            case .permanent(let answer):
                try outbox.markFailed(id: message.id, sender: sender, error: answer)
                report.failed += 1
                // Security-relevant: a refused address may be a typo'd, hijacked or disposable one.
                logger.warning(
                    "mail refused for good", metadata: ["event": "mail_rejected", "mail.id": "\(message.id)", "answer": "\(answer)"])
            case .transient(let answer):
                if at.timeIntervalSince(message.createdAt) >= maxAge.timeInterval {
                    try outbox.markFailed(id: message.id, sender: sender, error: "gave up after \(maxAge): \(answer)")
                    report.failed += 1
                    logger.warning(
                        "mail given up", metadata: ["event": "mail_expired", "mail.id": "\(message.id)", "answer": "\(answer)"])
                } else {
                    let doublings = Int(min(max(0, message.attempts - 1), 20))
                    let wait = min(3600, firstRetry.timeInterval * Double(1 << doublings))
                    try outbox.markRetry(id: message.id, sender: sender, next: at.addingTimeInterval(wait), error: answer)
                    report.retried += 1
                    logger.notice(
                        "mail delayed", metadata: ["event": "mail_retry", "mail.id": "\(message.id)", "answer": "\(answer)"])
                }
            }
        }
        return report
    }

    /// The queue's counts and the age of its oldest queued message (the mail metrics).
    public func stats() throws(AuthError) -> MailQueueStats { try outbox.stats(now: clock.now()) }

    /// The unsent messages (queued and failed), oldest first, without their bodies.
    public func unsent(limit: Int = 100) throws(AuthError) -> [MailQueueEntry] {
        try outbox.unsent(limit: limit).map {
            MailQueueEntry(
                id: $0.id, recipient: $0.recipient, status: $0.status, attempts: Int($0.attempts), createdAt: $0.createdAt,
                nextAttemptAt: $0.nextAttemptAt, lastError: $0.lastError)
        }
    }

    /// Makes queued messages (all, or one) due now. Returns how many.
    public func retryNow(id: String?) throws(AuthError) -> Int { try outbox.retryNow(id: id, now: clock.now()) }

    /// Deletes one unsent message that no sender is sending now. Returns whether it did.
    public func drop(id: String) throws(AuthError) -> Bool { try outbox.drop(id: id, now: clock.now()) }
}

/// The queue in numbers: what the mail metrics show.
public struct MailQueueStats: Sendable, Equatable {
    public init(queued: Int, sent: Int, retried: Int, failed: Int, oldestQueuedAge: TimeInterval) {
        self.queued = queued
        self.sent = sent
        self.retried = retried
        self.failed = failed
        self.oldestQueuedAge = oldestQueuedAge
    }

    public var queued: Int
    public var sent: Int
    /// Attempts after a message's first, over the messages kept (until the cleanup removes them).
    public var retried: Int
    public var failed: Int
    /// Seconds since the oldest queued message was written (0: none queued).
    public var oldestQueuedAge: TimeInterval
}

/// One unsent message, as `mail queue` lists it.
public struct MailQueueEntry: Sendable, Equatable {
    public var id: String
    public var recipient: String
    public var status: String
    public var attempts: Int
    public var createdAt: Date
    public var nextAttemptAt: Date
    public var lastError: String?
}
