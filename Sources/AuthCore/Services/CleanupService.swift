public import FoundationEssentials

/// Deletes what can no longer be used (the supervisor runs it periodically as `jwt-authd cleanup --lock`).
public struct CleanupService {
    let store: MaintenanceStore
    let throttleWindow: TimeInterval
    let clock: any AuthClock

    init(database: Database, throttleWindow: TimeInterval, clock: any AuthClock) {
        store = MaintenanceStore(database: database)
        self.throttleWindow = throttleWindow
        self.clock = clock
    }

    /// Deletes, in batches of `batchSize` rows (short transactions, no long locks): refresh tokens past their expiry
    /// (a replay of one fails its `exp` check before any lookup), sessions past their absolute expiry or revoked more
    /// than `retention` ago (their tokens go with them), API keys expired or revoked more than `retention` ago, and
    /// throttle windows that have ended, one-time tokens expired or consumed (a day kept, for support questions) and
    /// outbox rows sent or failed more than `retention` ago.
    public func cleanup(batchSize: Int = 1000, retention: TimeInterval = 30 * 86_400) throws(AuthError) -> CleanupReport {
        let now = clock.now()
        let old = now.addingTimeInterval(-retention)
        var report = CleanupReport()
        report.sessions = try store.drain(.sessions, olderThan: [now, old], batchSize: batchSize)
        report.refreshTokens = try store.drain(.refreshTokens, olderThan: [now], batchSize: batchSize)
        report.apiKeys = try store.drain(.apiKeys, olderThan: [old, old], batchSize: batchSize)
        report.throttleRows = try store.drain(
            .throttle, olderThan: [now.addingTimeInterval(-throttleWindow)],
            batchSize: batchSize)
        let day = now.addingTimeInterval(-86_400)
        report.oneTimeTokens = try store.drain(.oneTimeTokens, olderThan: [day, day], batchSize: batchSize)
        report.mail = try store.drain(.mailOutbox, olderThan: [old], batchSize: batchSize)
        report.pendingFactors = try store.drain(.pendingFactors, olderThan: [now], batchSize: batchSize)
        report.challenges = try store.drain(.challenges, olderThan: [now], batchSize: batchSize)
        report.webauthnChallenges = try store.drain(.webauthnChallenges, olderThan: [now], batchSize: batchSize)
        return report
    }

    /// Runs ``cleanup(batchSize:retention:)`` only if no other host is running it (the cleanup lease, a row of `leases`).
    ///
    /// - Returns: The report, or `nil` when another host holds the lock.
    public func cleanupIfUnlocked(batchSize: Int = 1000) throws(AuthError) -> CleanupReport? {
        guard try store.tryLock() else { return nil }
        defer { store.unlock() }
        return try cleanup(batchSize: batchSize)
    }
}

/// What a cleanup removed.
public struct CleanupReport: Sendable, Equatable, CustomStringConvertible {
    public var refreshTokens = 0
    public var sessions = 0
    public var apiKeys = 0
    public var throttleRows = 0
    public var oneTimeTokens = 0
    public var mail = 0
    public var pendingFactors = 0
    public var challenges = 0
    public var webauthnChallenges = 0
    public init() {}
    public var description: String {
        "refresh_tokens=\(refreshTokens) sessions=\(sessions) api_keys=\(apiKeys) auth_throttle=\(throttleRows)"
            + " one_time_tokens=\(oneTimeTokens) mail_outbox=\(mail) mfa_pending=\(pendingFactors)"
            + " mfa_challenges=\(challenges) webauthn_challenges=\(webauthnChallenges)"
    }
}
