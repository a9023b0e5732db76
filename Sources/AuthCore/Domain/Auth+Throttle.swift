import CryptoPrimitives
import FoundationEssentials
import MariaDB

/// What is counted, and the subject it is counted for.
public enum ThrottleScope: String, Sendable {
    case loginAccount = "login_account"
    case loginIP = "login_ip"
    case registerIP = "register_ip"
    case passwordChange = "password_account"
}

extension Auth {
    func limit(of scope: ThrottleScope) -> Int {
        switch scope {
        case .loginAccount: settings.throttle.loginPerAccount
        case .loginIP: settings.throttle.loginPerIP
        case .registerIP: settings.throttle.registerPerIP
        case .passwordChange: settings.throttle.passwordChangePerAccount
        }
    }

    /// The subject is stored as a SHA-256 digest: no email or address sits in the throttle table.
    private func key(_ scope: ThrottleScope, _ subject: String) -> DatabaseValue {
        .bytes(SHA256.hash(Array("\(scope.rawValue)\u{0}\(subject)".utf8)))
    }

    /// Seconds to wait when `subject` is over its limit in the current window, or `nil` when it may try.
    public func throttleDelay(_ scope: ThrottleScope, _ subject: String) throws -> Int? {
        guard let row = try connection.query("""
            SELECT window_start, failures FROM auth_throttle WHERE scope = ? AND subject = ?
            """, [.string(scope.rawValue), key(scope, subject)]).first else { return nil }
        return try delay(scope, row, now: clock.now())
    }

    /// What a login's two throttles say, read in one statement.
    package struct LoginThrottle {
        /// Seconds to wait when the account is over its limit, or `nil`.
        package var accountWait: Int?
        /// Seconds to wait when the client address is over its limit, or `nil`.
        package var addressWait: Int?
        /// Whether the account had failures on record: only then does a successful login have a count to reset.
        package var accountRecorded = false
    }

    /// The account's and the client address's throttles in one read (a login's first statement).
    package func loginThrottle(email: String, ip: String) throws -> LoginThrottle {
        let now = clock.now()
        let rows = try connection.query(HotPathSQL.loginThrottles, [
            .string(ThrottleScope.loginAccount.rawValue), key(.loginAccount, email),
            .string(ThrottleScope.loginIP.rawValue), key(.loginIP, ip),
        ])
        var state = LoginThrottle()
        for row in rows {
            switch try row.string("scope") {
            case ThrottleScope.loginAccount.rawValue:
                state.accountRecorded = true
                state.accountWait = try delay(.loginAccount, row, now: now)
            case ThrottleScope.loginIP.rawValue:
                state.addressWait = try delay(.loginIP, row, now: now)
            default:
                break
            }
        }
        return state
    }

    /// The wait a throttle row imposes: `nil` below the limit or once its window has ended.
    private func delay(_ scope: ThrottleScope, _ row: Row, now: Date) throws -> Int? {
        let windowEnd = try row.date("window_start").addingTimeInterval(Double(settings.throttle.windowSeconds))
        guard windowEnd > now, try row.int("failures") >= Int64(limit(of: scope)) else { return nil }
        return max(1, Int(windowEnd.timeIntervalSince(now).rounded(.up)))
    }

    /// Counts one failure (or attempt) in the current fixed window; a window that has ended starts again at 1.
    public func recordFailure(_ scope: ThrottleScope, _ subject: String) throws {
        let now = clock.now()
        let windowStartCutoff = now.addingTimeInterval(-Double(settings.throttle.windowSeconds))
        // In an UPDATE list MariaDB assigns left to right: failures is computed from the old window_start first.
        try connection.execute("""
            INSERT INTO auth_throttle (scope, subject, window_start, failures) VALUES (?, ?, ?, 1)
            ON DUPLICATE KEY UPDATE
                failures = IF(window_start <= ?, 1, failures + 1),
                window_start = IF(window_start <= ?, VALUES(window_start), window_start)
            """, [.string(scope.rawValue), key(scope, subject), .date(now), .date(windowStartCutoff), .date(windowStartCutoff)])
    }

    /// Forgets the failures of a subject (after a successful login).
    public func resetThrottle(_ scope: ThrottleScope, _ subject: String) throws {
        try connection.execute("DELETE FROM auth_throttle WHERE scope = ? AND subject = ?",
                               [.string(scope.rawValue), key(scope, subject)], idempotent: true)
    }
}
