import Logging
import Passwords

extension AccountService {
    /// Logs in: the same answer, and the same hashing work, for an unknown email and a wrong password.
    ///
    /// Every attempt is counted before any password is checked (atomically: concurrent guesses cannot exceed a
    /// limit), and over a limit the call fails with ``AuthError/throttled(retryAfter:)`` without hashing. An attempt
    /// from a browser known to the account (a device cookie entry in `client.devices`) counts on that device alone;
    /// any other against the account and the client address (IPv6: its /64), so an attacker who exhausts the
    /// account's limit does not lock out its owner's browsers. A failure keeps its count; a success forgets the
    /// account's (or device's) and gives the address's back. A success rehashes a hash that is bcrypt, Argon2i or
    /// weaker than the current parameters.
    ///
    /// A user with an active second factor gets a challenge instead of a session
    /// (``completeSignIn(challenge:proof:client:)`` finishes it).
    public func signIn(email rawEmail: String, password: String, client: ClientContext) throws(AuthError) -> SignIn {
        // Before any read: no stored password holds a NUL, and bcrypt would answer it without hashing (a timing tell).
        guard !password.utf8.contains(0) else { throw AuthError(.invalidInput, "Password must not contain NUL characters") }
        let email = EmailAddress.normalize(rawEmail)
        // Refused before anything is counted: no account can hold such an address (invisible characters and the like).
        guard EmailAddress.isPlausible(email) else { throw AuthError(.invalidInput, "Invalid email address") }
        // A place among this process's requests that may wait for a hash, before anything is written (a flood of
        // logins is refused here at once and cannot hold the threads the other routes need).
        guard hasher.enterQueue() else { throw AuthError.busy }
        defer { hasher.leaveQueue() }
        // One read for known and unknown emails alike; a device is known only to an account that exists (for an
        // unknown email the same checks run against no account, so that the two cost the same).
        // Causal on a Galera node: the account as the cluster has it, not as this node had applied it (a password reset
        // or changed through another node moments ago, a second factor just added: read stale, the new password
        // would be refused, the old one let in, and the factor skipped). Every later read of this sign-in on this
        // node sees at least that state. One group round trip on a cluster, beside tens of milliseconds of hashing.
        let found = try database.withCausalReads { () throws(AuthError) in try users.credentials(email: email) }
        let known = devices.recognize(
            userID: found?.user.id ?? "", epoch: found?.authEpoch ?? 0, in: client.devices, now: clock.now())
        let device = found.flatMap { found in
            known.map { ThrottleService.deviceSubject(userID: found.user.id, device: $0) }
        }
        let state = try throttle.reserveLogin(email: email, ip: client.ip, device: device)
        if let (scope, wait) = state.refusal {
            logger.notice(
                "login throttled",
                metadata: ["event": "login_throttled", "scope": "\(scope.rawValue)", "client.ip": "\(client.ip)"])
            throw AuthError.throttled(retryAfter: wait)
        }
        let outcome: PasswordCheck
        if let stored = found?.passwordHash, password.utf8.count <= policy.maximumBytes {
            outcome = hasher.check(password, against: stored)
        } else {
            outcome = hasher.checkAgainstDummy(password)
        }
        if outcome == .busy {
            // Nothing was checked: the attempt does not count.
            try throttle.giveBack(email: email, ip: client.ip, device: device)
            throw AuthError.busy
        }
        guard case .valid(let needsRehash) = outcome, let found else {
            // The reservation made above stays: it is this failure's count.
            logger.info(
                "login failed",
                metadata: ["event": "login_failed", "client.ip": "\(client.ip)", "known_device": "\(device != nil)"])
            throw AuthError.invalidCredentials
        }
        try throttle.release(email: email, ip: client.ip, device: device)
        // Only after the password: whether an address is verified is not told to someone who does not have it.
        if requireVerifiedEmail && found.user.emailVerifiedAt == nil {
            logger.info("login of an unverified address", metadata: ["event": "login_unverified", "user.id": "\(found.user.id)"])
            throw AuthError.emailUnverified
        }
        if needsRehash, let stored = found.passwordHash, let upgraded = try? hashPassword(password) {
            try users.upgradePasswordHash(id: found.user.id, from: stored, to: upgraded, at: clock.now())
            logger.info("password rehashed", metadata: ["event": "password_rehashed", "user.id": "\(found.user.id)"])
        }
        return try afterFirstFactor(found.user, client: client, purpose: .login)
    }

    /// ``signIn(email:password:client:)`` for callers that have no second step (tests, tools): a challenge is
    /// `mfaRequired`.
    public func login(email: String, password: String, client: ClientContext) throws(AuthError) -> TokenPair {
        guard let pair = try signIn(email: email, password: password, client: client).pair else {
            throw AuthError(.mfaRequired, "A second factor is required")
        }
        return pair
    }
}
