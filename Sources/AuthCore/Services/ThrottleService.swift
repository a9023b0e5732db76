import CryptoPrimitives
import FoundationEssentials

/// What is counted, and the subject it is counted for.
public enum ThrottleScope: String, Sendable {
    case loginAccount = "login_account"
    case loginIP = "login_ip"
    case registerIP = "register_ip"
    case passwordChange = "password_account"
}

/// Failure counting in fixed windows, shared by every worker and host through MariaDB. Subjects are stored as
/// SHA-256 digests: no email or address sits in the throttle table.
public struct ThrottleService {
    let limits: Config.Throttle
    let store: ThrottleStore
    let clock: any AuthClock

    init(limits: Config.Throttle, database: Database, clock: any AuthClock) {
        self.limits = limits
        store = ThrottleStore(database: database)
        self.clock = clock
    }

    /// What a login's two throttles say about an attempt reserved with ``reserveLogin(email:ip:)``.
    package struct LoginThrottle {
        /// Seconds to wait when the account is over its limit, or `nil`.
        package var accountWait: Int?
        /// Seconds to wait when the client address is over its limit, or `nil`.
        package var addressWait: Int?
    }

    func limit(of scope: ThrottleScope) -> Int {
        switch scope {
        case .loginAccount: limits.loginPerAccount
        case .loginIP: limits.loginPerIP
        case .registerIP: limits.registerPerIP
        case .passwordChange: limits.passwordChangePerAccount
        }
    }

    /// The stored subject: a digest of the scope and what it counts. An address counts as its network
    /// (``addressSubject(_:)``), an account's login as its email's skeleton, so that every spelling the old
    /// case- and accent-insensitive comparison equated shares one limit (``EmailAddress/skeleton(_:)``).
    private func key(_ scope: ThrottleScope, _ subject: String) -> [UInt8] {
        let subject =
            switch scope {
            case .loginIP, .registerIP: addressSubject(subject)
            case .loginAccount: EmailAddress.skeleton(subject)
            case .passwordChange: subject
            }
        return SHA256.hash(Array("\(scope.rawValue)\u{0}\(subject)".utf8))
    }

    /// What a client address is counted as: an IPv4 address as itself, an IPv6 address as its network of
    /// `throttle.ipv6_prefix` bits (anyone with a /64 has 2^64 addresses to rotate through).
    func addressSubject(_ ip: String) -> String {
        guard let address = IPAddress(parsing: ip), address.isIPv6 else { return ip }
        return "\(address.masked(toPrefix: limits.ipv6Prefix).hex)/\(limits.ipv6Prefix)"
    }

    /// Seconds to wait when `subject` is over its limit in the current window, or `nil` when it may try.
    public func delay(_ scope: ThrottleScope, _ subject: String) throws(AuthError) -> Int? {
        guard let count = try store.count(scope: scope.rawValue, key: key(scope, subject)) else { return nil }
        return delay(scope, count, now: clock.now())
    }

    /// Counts a login attempt against the account and the client address before any password is checked, and says
    /// whether it may go on: atomic, so concurrent guesses cannot get more than the limit evaluated between them.
    /// The reservation stays as the failure it becomes, or is given back by ``release(email:ip:)`` after a success.
    package func reserveLogin(email: String, ip: String) throws(AuthError) -> LoginThrottle {
        let now = clock.now()
        let counts = try store.reserve(
            (ThrottleScope.loginAccount.rawValue, key(.loginAccount, email)), (ThrottleScope.loginIP.rawValue, key(.loginIP, ip)),
            now: now, windowCutoff: now.addingTimeInterval(-limits.window.timeInterval))
        var state = LoginThrottle()
        for count in counts {
            // This attempt is number `failures` of its window: it may go on while the ones before it are within the
            // limit.
            switch ThrottleScope(rawValue: count.scope) {
            case .loginAccount:
                state.accountWait = wait(.loginAccount, failuresBefore: count.failures - 1, since: count.windowStart, now: now)
            case .loginIP:
                state.addressWait = wait(.loginIP, failuresBefore: count.failures - 1, since: count.windowStart, now: now)
            default: break
            }
        }
        return state
    }

    /// A successful login: the account's count is forgotten and the address gets its reservation back.
    package func release(email: String, ip: String) throws(AuthError) {
        try store.forgetAndGiveBack(
            forget: (ThrottleScope.loginAccount.rawValue, key(.loginAccount, email)),
            giveBack: (ThrottleScope.loginIP.rawValue, key(.loginIP, ip)))
    }

    /// A login refused before any password was checked (the hashing queue was busy): both reservations go back.
    package func giveBack(email: String, ip: String) throws(AuthError) {
        try store.giveBack(
            (ThrottleScope.loginAccount.rawValue, key(.loginAccount, email)), (ThrottleScope.loginIP.rawValue, key(.loginIP, ip)))
    }

    /// The wait a count imposes: `nil` below the limit or once its window has ended.
    private func delay(_ scope: ThrottleScope, _ count: ThrottleStore.Count, now: Date) -> Int? {
        wait(scope, failuresBefore: count.failures, since: count.windowStart, now: now)
    }

    /// The wait for the next attempt after `failuresBefore` in the window that started `since`.
    private func wait(_ scope: ThrottleScope, failuresBefore: Int64, since windowStart: Date, now: Date) -> Int? {
        let windowEnd = windowStart.addingTimeInterval(limits.window.timeInterval)
        guard windowEnd > now, failuresBefore >= Int64(limit(of: scope)) else { return nil }
        return max(1, Int(windowEnd.timeIntervalSince(now).rounded(.up)))
    }

    /// Counts one failure (or attempt) in the current fixed window; a window that has ended starts again at 1.
    public func recordFailure(_ scope: ThrottleScope, _ subject: String) throws(AuthError) {
        let now = clock.now()
        try store.record(
            scope: scope.rawValue, key: key(scope, subject), now: now,
            windowCutoff: now.addingTimeInterval(-limits.window.timeInterval))
    }
}
