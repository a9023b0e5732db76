import Logging
public import Passwords

/// Accounts: registration, login, passwords, roles, verification and deletion. One per thread.
public final class AccountService: AccountOperations {
    let policy: PasswordPolicy
    let hasher: any PasswordHashing
    let users: UserStore
    let throttle: ThrottleService
    let sessions: SessionService
    let mfa: MFAService
    let passkeys: PasskeyService
    let challenges: MFAChallengeStore
    let devices: DeviceCookies
    let database: Database
    let oneTimeTokens: OneTimeTokenStore
    let outbox: MailOutboxStore
    let mail: MailComposer
    let resetTokenLifetime: Duration
    let verifyTokenLifetime: Duration
    let requireVerifiedEmail: Bool
    let enumerationSafeRegistration: Bool
    let clock: any AuthClock
    let logger: Logger

    init(
        settings: AuthSettings, hasher: any PasswordHashing, database: Database, throttle: ThrottleService,
        sessions: SessionService, mfa: MFAService, passkeys: PasskeyService, clock: any AuthClock, logger: Logger
    ) {
        policy = settings.passwordPolicy
        devices = settings.devices
        mail = settings.mail
        resetTokenLifetime = settings.resetTokenLifetime
        verifyTokenLifetime = settings.verifyTokenLifetime
        requireVerifiedEmail = settings.requireVerifiedEmail
        enumerationSafeRegistration = settings.enumerationSafeRegistration
        self.database = database
        oneTimeTokens = OneTimeTokenStore(database: database)
        outbox = MailOutboxStore(database: database)
        self.hasher = hasher
        users = UserStore(database: database)
        self.throttle = throttle
        self.sessions = sessions
        self.mfa = mfa
        self.passkeys = passkeys
        challenges = MFAChallengeStore(database: database)
        self.clock = clock
        self.logger = logger
    }

    /// The password policy new passwords are checked against.
    public var passwordPolicy: PasswordPolicy { policy }

    /// Creates a user. The password is checked against the policy and hashed with Argon2id.
    ///
    /// - Throws: ``AuthError`` `invalidInput`, `weakPassword`, `emailTaken`.
    public func createUser(email rawEmail: String, password: String?, name: String? = nil, role: String = "user")
        throws(AuthError) -> User
    {
        let (user, hash) = try newUser(email: rawEmail, password: password, name: name, role: role)
        try users.insert(user, passwordHash: hash, at: user.createdAt)
        return user
    }

    /// A new user's record and password hash, checked (address, role, name, password policy) but not stored.
    func newUser(email rawEmail: String, password: String?, name: String?, role: String) throws(AuthError) -> (User, String?) {
        let email = EmailAddress.normalize(rawEmail)
        guard EmailAddress.isPlausible(email) else { throw AuthError(.invalidInput, "Invalid email address") }
        guard Self.isValid(role: role) else { throw AuthError(.invalidInput, "Invalid role") }
        if let name, name.unicodeScalars.count > 200 { throw AuthError(.invalidInput, "Name is too long") }
        var hash: String?
        if let password {
            if let problem = policy.problem(with: password) { throw AuthError(.weakPassword, "Password \(problem)") }
            hash = try hashPassword(password)
        }
        let now = clock.now()
        return (User(id: Identifier.make(at: now), email: email, name: name, role: role, emailVerifiedAt: nil, createdAt: now), hash)
    }

    /// A user by id.
    public func user(id: String) throws(AuthError) -> User? {
        guard Identifier.isWellFormed(id) else { return nil }
        return try users.find(id: id)
    }

    /// A user by email (normalised).
    public func user(email: String) throws(AuthError) -> User? {
        try users.find(email: EmailAddress.normalize(email))
    }

    /// All users, by email (for the admin CLI).
    public func users(limit: Int = 1000) throws(AuthError) -> [User] {
        try users.list(limit: limit)
    }

    /// The device cookie for the browser of `client` once the user has completed an authentication on it (a login, a
    /// registration, a password change): a new entry for this account at its current authentication epoch first,
    /// the browser's other entries kept; `nil` when device cookies are off or the user is gone. Never call it before
    /// the authentication is complete.
    public func deviceCookie(for userID: String, client: ClientContext) throws(AuthError) -> DeviceCookies.Issued? {
        guard devices.isEnabled, let epoch = try users.authEpoch(id: userID) else { return nil }
        return devices.issue(userID: userID, epoch: epoch, keeping: client.devices, now: clock.now())
    }

    /// Registers a user and, unless the site requires a verified address, starts a session. Attempts count against
    /// the client address, before any hashing and atomically (concurrent registrations cannot exceed the limit); one
    /// refused because the hashing queue was busy gives its count back.
    ///
    /// With `links` (the site sends mail) the verification message is written with the user, in one transaction. With
    /// enumeration-safe registration a taken address answers like a new one, and its owner gets "you already have an
    /// account" instead: the password is hashed either way, so the two cost about the same.
    public func register(email: String, password: String, name: String?, client: ClientContext, links: AccountMailLinks?)
        throws(AuthError) -> Registration
    {
        guard hasher.enterQueue() else { throw AuthError.busy }
        defer { hasher.leaveQueue() }
        if let wait = try throttle.reserve(.registerIP, client.ip) { throw AuthError.throttled(retryAfter: wait) }
        let user: User
        do {
            let (candidate, hash) = try newUser(email: email, password: password, name: name, role: "user")
            user = candidate
            // Re-run safe: the id and hash were made before; the unique email makes a duplicate 409 on whichever
            // node commits second, and a rolled-back attempt left nothing.
            try database.transaction { _ throws(AuthError) in
                try users.insert(user, passwordHash: hash, at: user.createdAt)
                if let links { try queueVerification(for: user, link: links.verify, now: user.createdAt, newAccount: true) }
            }
        } catch {
            if error.code == .busy { try throttle.giveBack(.registerIP, client.ip) }
            if error.code == .emailTaken, enumerationSafeRegistration, let links {
                try queueAccountExists(email: EmailAddress.normalize(email), link: links.forgot)
                return .verificationRequired
            }
            throw error
        }
        if requireVerifiedEmail { return .verificationRequired }
        return .signedIn(try sessions.startSession(for: user, client: client))
    }

    /// A user's own password change: checks the current password (throttled), then revokes every other session.
    ///
    /// The current password counts as a new act of authentication of the kept session. The user's API keys are
    /// revoked too, unless `keepingAPIKeys`.
    public func changePassword(
        userID: String, current: String, new: String, keepingSession sessionID: String?, keepingAPIKeys: Bool = false
    ) throws(AuthError) {
        try checkCurrentPassword(userID: userID, current)
        try setPassword(userID: userID, new, keepingSession: sessionID, keepingAPIKeys: keepingAPIKeys)
        if let sessionID { try sessions.recordAuthentication(sessionID: sessionID, userID: userID, methods: ["pwd"]) }
    }

    /// The password entered again on a signed-in session (to create an API key, say): see
    /// ``reauthenticate(userID:sessionID:with:client:)``.
    public func reauthenticate(userID: String, sessionID: String, password: String, client: ClientContext) throws(AuthError) {
        _ = try reauthenticate(userID: userID, sessionID: sessionID, with: .password(password), client: client)
    }

    /// Counted before the check, atomically (concurrent guesses on one session cannot exceed the limit): a wrong
    /// password keeps its count, anything else gives it back.
    func checkCurrentPassword(userID: String, _ current: String) throws(AuthError) {
        guard !current.utf8.contains(0) else { throw AuthError(.invalidInput, "Password must not contain NUL characters") }
        if let wait = try throttle.reserve(.passwordChange, userID) { throw AuthError.throttled(retryAfter: wait) }
        // Causal on a Galera node, as at sign-in: the hash as the cluster has it.
        let stored = try database.withCausalReads { () throws(AuthError) in try users.passwordHash(id: userID) }
        let outcome = stored.map { $0.map { hasher.check(current, against: $0) } ?? .invalid }
        switch outcome {
        case .invalid?, .unsupportedHash?: throw AuthError.invalidCredentials
        case .valid?: try throttle.giveBack(.passwordChange, userID)
        case .busy?:
            try throttle.giveBack(.passwordChange, userID)
            throw AuthError.busy
        case nil:
            try throttle.giveBack(.passwordChange, userID)
            throw AuthError.notFound
        }
    }

    /// Sets a password (admin reset, or after ``changePassword(userID:current:new:keepingSession:keepingAPIKeys:)``)
    /// and revokes the user's sessions, all of them or all but `keepingSession`, and API keys unless `keepingAPIKeys`
    /// (an admin reset keeps none).
    public func setPassword(
        userID: String, _ password: String, keepingSession sessionID: String? = nil, keepingAPIKeys: Bool = false
    ) throws(AuthError) {
        if let problem = policy.problem(with: password) { throw AuthError(.weakPassword, "Password \(problem)") }
        let hash = try hashPassword(password)
        guard try users.setPasswordHash(id: userID, hash, at: clock.now()) else { throw AuthError.notFound }
        try sessions.revokeAllSessions(of: userID, keeping: sessionID, keepingAPIKeys: keepingAPIKeys)
    }

    /// Changes a user's role.
    public func setRole(userID: String, _ role: String) throws(AuthError) {
        guard Self.isValid(role: role) else { throw AuthError(.invalidInput, "Invalid role") }
        guard try users.setRole(id: userID, role, at: clock.now()) else { throw AuthError.notFound }
    }

    /// Marks a user's email as verified (now).
    public func markEmailVerified(userID: String) throws(AuthError) {
        guard try users.markEmailVerified(id: userID, at: clock.now()) else { throw AuthError.notFound }
    }

    /// Deletes a user; sessions, tokens and API keys go with it (foreign keys cascade).
    public func deleteUser(id: String) throws(AuthError) {
        guard try users.delete(id: id) else { throw AuthError.notFound }
    }

    /// Roles are 1-32 ASCII letters, digits, `_` or `-` (they travel in headers to upstream apps).
    static func isValid(role: String) -> Bool {
        !role.isEmpty && role.count <= 32
            && role.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// A new hash; a failure of the hashing library is the service's fault.
    func hashPassword(_ password: String) throws(AuthError) -> String {
        do {
            return try hasher.hash(password)
        } catch  where error == .busy {
            throw AuthError.busy
        } catch {
            throw AuthError.internalFailure("\(error)")
        }
    }
}
