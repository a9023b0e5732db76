import Logging
import Passwords

extension AccountService {
    /// Logs in: the same answer, and the same hashing work, for an unknown email and a wrong password.
    ///
    /// Every attempt counts against the account and the client address (IPv6: its /64) before any password is
    /// checked; over either limit the call fails with ``AuthError/throttled(retryAfter:)`` without hashing. A failure
    /// keeps its count; a success gives the address's back and forgets the account's. A success resets the account's count and
    /// rehashes a hash that is bcrypt, Argon2i or weaker than the current parameters.
    public func login(email rawEmail: String, password: String, client: ClientContext) throws(AuthError) -> TokenPair {
        // Before any read: no stored password holds a NUL, and bcrypt would answer it without hashing (a timing tell).
        guard !password.utf8.contains(0) else { throw AuthError(.invalidInput, "Password must not contain NUL characters") }
        let email = EmailAddress.normalize(rawEmail)
        // Refused before anything is counted: no account can hold such an address (invisible characters and the like).
        guard EmailAddress.isPlausible(email) else { throw AuthError(.invalidInput, "Invalid email address") }
        // A place among this process's requests that may wait for a hash, before anything is written (a flood of
        // logins is refused here at once and cannot hold the threads the other routes need).
        guard hasher.enterQueue() else { throw AuthError.busy }
        defer { hasher.leaveQueue() }
        // Counted before any password is checked (atomically: concurrent guesses cannot exceed the limit).
        let state = try throttle.reserveLogin(email: email, ip: client.ip)
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
            outcome = hasher.checkAgainstDummy(password)
        }
        if outcome == .busy {
            // Nothing was checked: the attempt does not count.
            try throttle.giveBack(email: email, ip: client.ip)
            throw AuthError.busy
        }
        guard case .valid(let needsRehash) = outcome, let found else {
            // The reservation made above stays: it is this failure's count.
            logger.info("login failed", metadata: ["event": "login_failed", "client.ip": "\(client.ip)"])
            throw AuthError.invalidCredentials
        }
        // The account's count is forgotten and the address gets its reservation back.
        try throttle.release(email: email, ip: client.ip)
        if needsRehash, let stored = found.passwordHash, let upgraded = try? hashPassword(password) {
            try users.upgradePasswordHash(id: found.user.id, from: stored, to: upgraded, at: clock.now())
            logger.info("password rehashed", metadata: ["event": "password_rehashed", "user.id": "\(found.user.id)"])
        }
        return try sessions.startSession(for: found.user, client: client)
    }
}
