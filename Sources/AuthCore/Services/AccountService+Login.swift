import Logging
import Passwords

extension AccountService {
    /// Logs in: the same answer, and the same hashing work, for an unknown email and a wrong password.
    ///
    /// Failures count against the account and the client address; over either limit the call fails with
    /// ``AuthError/throttled(retryAfter:)`` before any password is checked. A success resets the account's count and
    /// rehashes a hash that is bcrypt, Argon2i or weaker than the current parameters.
    public func login(email rawEmail: String, password: String, client: ClientContext) throws(AuthError) -> TokenPair {
        // Before any read: no stored password holds a NUL, and bcrypt would answer it without hashing (a timing tell).
        guard !password.utf8.contains(0) else { throw AuthError(.invalidInput, "Password must not contain NUL characters") }
        let email = EmailAddress.normalize(rawEmail)
        let state = try throttle.loginThrottle(email: email, ip: client.ip)
        for (scope, wait) in [(ThrottleScope.loginAccount, state.accountWait), (.loginIP, state.addressWait)] {
            if let wait {
                logger.notice(
                    "login throttled",
                    metadata: [
                        "event": "login_throttled", "scope": "\(scope.rawValue)", "client.ip": "\(client.ip)",
                    ])
                throw AuthError.throttled(retryAfter: wait)
            }
        }
        let found = try users.credentials(email: email)
        let outcome: PasswordCheck
        if let stored = found?.passwordHash, password.utf8.count <= policy.maximumBytes {
            outcome = hasher.check(password, against: stored)
        } else {
            hasher.checkAgainstDummy(password)
            outcome = .invalid
        }
        guard case .valid(let needsRehash) = outcome, let found else {
            try throttle.recordFailure(.loginAccount, email)
            try throttle.recordFailure(.loginIP, client.ip)
            logger.info("login failed", metadata: ["event": "login_failed", "client.ip": "\(client.ip)"])
            throw AuthError.invalidCredentials
        }
        // Only an account with failures on record has a count to reset (a failure recorded since the read above
        // stays: it happened, and it ends with its window).
        if state.accountRecorded { try throttle.reset(.loginAccount, email) }
        if needsRehash, let stored = found.passwordHash, let upgraded = try? hashPassword(password) {
            try users.upgradePasswordHash(id: found.user.id, from: stored, to: upgraded, at: clock.now())
            logger.info("password rehashed", metadata: ["event": "password_rehashed", "user.id": "\(found.user.id)"])
        }
        return try sessions.startSession(for: found.user, client: client)
    }
}
