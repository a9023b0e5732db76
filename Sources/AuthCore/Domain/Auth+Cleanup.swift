public import FoundationEssentials
import MariaDB

/// What a cleanup removed.
public struct CleanupReport: Sendable, Equatable, CustomStringConvertible {
    public var refreshTokens = 0
    public var sessions = 0
    public var apiKeys = 0
    public var throttleRows = 0
    public init() {}
    public var description: String {
        "refresh_tokens=\(refreshTokens) sessions=\(sessions) api_keys=\(apiKeys) auth_throttle=\(throttleRows)"
    }
}

extension Auth {
    /// Deletes what can no longer be used, in batches of `batchSize` rows (short transactions, no long locks):
    /// refresh tokens past their expiry (a replay of one fails its `exp` check before any lookup), sessions past their
    /// absolute expiry or revoked more than `retention` ago (their tokens go with them), API keys expired or revoked
    /// more than `retention` ago, and throttle windows that have ended.
    public func cleanup(batchSize: Int = 1000, retention: TimeInterval = 30 * 86_400) throws -> CleanupReport {
        let now = clock.now()
        let old = now.addingTimeInterval(-retention)
        var report = CleanupReport()
        func drain(_ sql: String, _ values: [DatabaseValue]) throws -> Int {
            var total = 0
            while true {
                let deleted = try connection.execute(sql + " LIMIT \(batchSize)", values, idempotent: true).affectedRows
                total += deleted
                if deleted < batchSize { return total }
            }
        }
        report.sessions = try drain("DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?", [.date(now), .date(old)])
        report.refreshTokens = try drain("DELETE FROM refresh_tokens WHERE expires_at < ?", [.date(now)])
        report.apiKeys = try drain("DELETE FROM api_keys WHERE expires_at < ? OR revoked_at < ?", [.date(old), .date(old)])
        report.throttleRows = try drain("DELETE FROM auth_throttle WHERE window_start < ?",
                                        [.date(now.addingTimeInterval(-Double(settings.throttle.windowSeconds)))])
        return report
    }
}
