import CryptoPrimitives
import FoundationEssentials

/// What is counted, and the subject it is counted for.
public enum ThrottleScope: String, Sendable {
    case loginAccount = "login_account"
    case loginIP = "login_ip"
    case loginDevice = "login_device"
    case forgotAccount = "forgot_account"
    case forgotIP = "forgot_ip"
    case registerIP = "register_ip"
    case passwordChange = "password_account"
    /// Second-factor codes of an account (sign-in challenges and reauthentication together).
    case mfaAccount = "mfa_account"
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

    /// What a login's throttles say about an attempt reserved with ``reserveLogin(email:ip:device:)``.
    package struct LoginThrottle {
        /// Seconds to wait when the account is over its limit, or `nil`.
        package var accountWait: Int?
        /// Seconds to wait when the client address is over its limit, or `nil`.
        package var addressWait: Int?
        /// Seconds to wait when the known device is over its limit, or `nil`.
        package var deviceWait: Int?

        /// The first limit that refuses the attempt, and its wait.
        package var refusal: (scope: ThrottleScope, wait: Int)? {
            if let deviceWait { return (.loginDevice, deviceWait) }
            if let accountWait { return (.loginAccount, accountWait) }
            if let addressWait { return (.loginIP, addressWait) }
            return nil
        }
    }

    func limit(of scope: ThrottleScope) -> Int {
        switch scope {
        case .loginAccount: limits.loginPerAccount
        case .loginIP: limits.loginPerIP
        case .loginDevice: limits.loginPerDevice
        case .forgotAccount: limits.forgotPerAccount
        case .forgotIP: limits.forgotPerIP
        case .registerIP: limits.registerPerIP
        case .passwordChange: limits.passwordChangePerAccount
        case .mfaAccount: limits.mfaPerAccount
        }
    }

    /// The stored subject: a digest of the scope and what it counts. An address counts as its network
    /// (``addressSubject(_:)``), an account's login as its email's skeleton, so that every spelling the old
    /// case- and accent-insensitive comparison equated shares one limit (``EmailAddress/skeleton(_:)``).
    private func key(_ scope: ThrottleScope, _ subject: String) -> [UInt8] {
        let subject =
            switch scope {
            case .loginIP, .registerIP, .forgotIP: addressSubject(subject)
            case .loginAccount, .forgotAccount: EmailAddress.skeleton(subject)
            case .passwordChange, .loginDevice, .mfaAccount: subject
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

    /// What a login attempt is counted on: the account and the client address, or, from a browser known to the
    /// account (``DeviceCookies``), that device alone (the owner's attempts neither spend nor meet the limits that
    /// anyone can exhaust). `device` is the known device's subject: the user id and the entry's nonce.
    private func loginSubjects(email: String, ip: String, device: String?) -> [ThrottleStore.Subject] {
        if let device { return [(ThrottleScope.loginDevice.rawValue, key(.loginDevice, device))] }
        return [(ThrottleScope.loginAccount.rawValue, key(.loginAccount, email)), (ThrottleScope.loginIP.rawValue, key(.loginIP, ip))]
    }

    /// The subject a known device's attempts are counted on.
    package static func deviceSubject(userID: String, device: DeviceCookies.KnownDevice) -> String {
        "\(userID)\u{0}\(device.id)"
    }

    /// Counts a login attempt (see ``loginSubjects(email:ip:device:)``) before any password is checked, and says
    /// whether it may go on: atomic, so concurrent guesses cannot get more than the limit evaluated between them.
    /// The reservation stays as the failure it becomes, or is given back by ``release(email:ip:device:)`` after a
    /// success.
    package func reserveLogin(email: String, ip: String, device: String? = nil) throws(AuthError) -> LoginThrottle {
        let now = clock.now()
        let places = try store.reserve(
            loginSubjects(email: email, ip: ip, device: device), now: now,
            windowCutoff: now.addingTimeInterval(-limits.window.timeInterval))
        var state = LoginThrottle()
        for place in places {
            guard let scope = ThrottleScope(rawValue: place.scope) else { continue }
            let wait = try wait(scope, place, now: now)
            switch scope {
            case .loginAccount: state.accountWait = wait
            case .loginIP: state.addressWait = wait
            case .loginDevice: state.deviceWait = wait
            default: break
            }
        }
        return state
    }

    /// A successful login: the first subject's count (the account's, or the known device's) is forgotten and the
    /// address gets its reservation back.
    package func release(email: String, ip: String, device: String? = nil) throws(AuthError) {
        let subjects = loginSubjects(email: email, ip: ip, device: device)
        try store.forgetAndGiveBack(forget: subjects[0], giveBack: Array(subjects.dropFirst()))
    }

    /// A login refused before any password was checked (the hashing queue was busy): the reservations go back.
    package func giveBack(email: String, ip: String, device: String? = nil) throws(AuthError) {
        try store.giveBack(loginSubjects(email: email, ip: ip, device: device))
    }

    /// Counts one attempt for `subject` before the work it limits, atomically, and gives the wait when the attempts
    /// before it in the window already reached the limit (`nil`: it may go on). The count stays unless given back.
    package func reserve(_ scope: ThrottleScope, _ subject: String) throws(AuthError) -> Int? {
        let now = clock.now()
        let places = try store.reserve(
            [(scope.rawValue, key(scope, subject))], now: now, windowCutoff: now.addingTimeInterval(-limits.window.timeInterval))
        guard let place = places.first else { return nil }
        return try wait(scope, place, now: now)
    }

    /// The wait of an attempt at `place` of its window: `nil` while the attempts before it are within the limit,
    /// else until the window ends (its start is read only then).
    private func wait(_ scope: ThrottleScope, _ place: ThrottleStore.Place, now: Date) throws(AuthError) -> Int? {
        guard place.place - 1 >= Int64(limit(of: scope)) else { return nil }
        let started = try store.windowStart(of: (place.scope, place.key)) ?? now
        return wait(scope, failuresBefore: place.place - 1, since: started, now: now)
    }

    /// Counts a password reset request against the account (its email's skeleton, known or not) and the client
    /// address, atomically, before anything else; the first limit it is over and its wait, or `nil`.
    package func reserveForgot(email: String, ip: String) throws(AuthError) -> (scope: ThrottleScope, wait: Int)? {
        let now = clock.now()
        let places = try store.reserve(
            [(ThrottleScope.forgotAccount.rawValue, key(.forgotAccount, email)), (ThrottleScope.forgotIP.rawValue, key(.forgotIP, ip))],
            now: now, windowCutoff: now.addingTimeInterval(-limits.window.timeInterval))
        for place in places {
            guard let scope = ThrottleScope(rawValue: place.scope), let wait = try wait(scope, place, now: now) else { continue }
            return (scope, wait)
        }
        return nil
    }

    /// Gives back an attempt counted by ``reserve(_:_:)`` (one that turned out not to count).
    package func giveBack(_ scope: ThrottleScope, _ subject: String) throws(AuthError) {
        try store.giveBack([(scope.rawValue, key(scope, subject))])
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
