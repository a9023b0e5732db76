import FoundationEssentials
import Logging
import MariaDB
import Passwords

extension Auth {
    /// Normalises an email for storage and lookup: trimmed, lower-cased.
    public static func normalize(email: String) -> String {
        String(email.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()).lowercased()
    }

    /// Roles are 1-32 ASCII letters, digits, `_` or `-` (they travel in headers to upstream apps).
    static func isValid(role: String) -> Bool {
        !role.isEmpty && role.count <= 32 && role.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// A light email syntax check (one @, a dot in the domain, no spaces, ≤ 254 bytes): delivery is not verified.
    public static func isPlausible(email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else { return false }
        return true
    }

    /// Creates a user. The password is checked against the policy and hashed with Argon2id.
    ///
    /// - Throws: ``AuthError`` `invalidInput`, `weakPassword`, `emailTaken`.
    public func createUser(email rawEmail: String, password: String?, name: String? = nil, role: String = "user") throws -> User {
        let email = Self.normalize(email: rawEmail)
        guard Self.isPlausible(email: email) else { throw AuthError(.invalidInput, "Invalid email address") }
        guard Self.isValid(role: role) else { throw AuthError(.invalidInput, "Invalid role") }
        if let name, name.unicodeScalars.count > 200 { throw AuthError(.invalidInput, "Name is too long") }
        var hash: String?
        if let password {
            if let problem = settings.passwordPolicy.problem(with: password) { throw AuthError(.weakPassword, "Password \(problem)") }
            hash = try hasher.hash(password)
        }
        let now = clock.now()
        let id = Identifier.make(at: now)
        do {
            try connection.execute("""
                INSERT INTO users (id, email, password_hash, name, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.string(id), .string(email), hash.map { .string($0) } ?? .null, name.map { .string($0) } ?? .null,
                      .string(role), .date(now), .date(now)])
        } catch {
            if error == .duplicateKey { throw AuthError.emailTaken }
            throw error
        }
        return User(id: id, email: email, name: name, role: role, emailVerifiedAt: nil, createdAt: now)
    }

    /// A user by id.
    public func user(id: String) throws -> User? {
        guard Identifier.isWellFormed(id) else { return nil }
        return try loadUser(id)
    }

    /// A user by email (normalised).
    public func user(email: String) throws -> User? {
        try connection.query("SELECT \(Auth.userColumns) FROM users u WHERE u.email = ?",
                             [.string(Self.normalize(email: email))]).first.map(Auth.user(from:))
    }

    /// All users, by email (for the admin CLI).
    public func users(limit: Int = 1000) throws -> [User] {
        try connection.query("SELECT \(Auth.userColumns) FROM users u ORDER BY u.email LIMIT ?", [.int(Int64(limit))])
            .map(Auth.user(from:))
    }

    /// Logs in: the same answer, and the same hashing work, for an unknown email and a wrong password.
    ///
    /// Failures count against the account and the client address; over either limit the call fails with
    /// ``AuthError/throttled(retryAfter:)`` before any password is checked. A success resets the account's count and
    /// rehashes a hash that is bcrypt, Argon2i or weaker than the current parameters.
    public func login(email rawEmail: String, password: String, client: ClientContext) throws -> TokenPair {
        let email = Self.normalize(email: rawEmail)
        let throttle = try loginThrottle(email: email, ip: client.ip)
        for (scope, wait) in [(ThrottleScope.loginAccount, throttle.accountWait), (.loginIP, throttle.addressWait)] {
            if let wait {
                logger.notice("login throttled", metadata: ["event": "login_throttled", "scope": "\(scope.rawValue)",
                                                            "client.ip": "\(client.ip)"])
                throw AuthError.throttled(retryAfter: wait)
            }
        }
        let row = try connection.query("SELECT \(Auth.userColumns), u.password_hash FROM users u WHERE u.email = ?",
                                       [.string(email)]).first
        let stored = try row?.optionalString("password_hash")
        let outcome: PasswordCheck
        if let stored, password.utf8.count <= settings.passwordPolicy.maximumBytes {
            outcome = hasher.check(password, against: stored)
        } else {
            hasher.checkAgainstDummy(password)
            outcome = .invalid
        }
        guard case .valid(let needsRehash) = outcome, let row else {
            try recordFailure(.loginAccount, email)
            try recordFailure(.loginIP, client.ip)
            logger.info("login failed", metadata: ["event": "login_failed", "client.ip": "\(client.ip)"])
            throw AuthError.invalidCredentials
        }
        let user = try Auth.user(from: row)
        // Only an account with failures on record has a count to reset (a failure recorded since the read above
        // stays: it happened, and it ends with its window).
        if throttle.accountRecorded { try resetThrottle(.loginAccount, email) }
        if needsRehash, let upgraded = try? hasher.hash(password) {
            try connection.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?",
                                   [.string(upgraded), .date(clock.now()), .string(user.id), .string(stored ?? "")])
            logger.info("password rehashed", metadata: ["event": "password_rehashed", "user.id": "\(user.id)"])
        }
        return try startSession(for: user, client: client)
    }

    /// Registers a user and starts a session. Attempts count against the client address.
    public func register(email: String, password: String, name: String?, client: ClientContext) throws -> TokenPair {
        if let wait = try throttleDelay(.registerIP, client.ip) { throw AuthError.throttled(retryAfter: wait) }
        try recordFailure(.registerIP, client.ip)
        let user = try createUser(email: email, password: password, name: name)
        return try startSession(for: user, client: client)
    }

    /// A user's own password change: checks the current password (throttled), then revokes every other session.
    public func changePassword(userID: String, current: String, new: String, keepingSession sessionID: String?) throws {
        if let wait = try throttleDelay(.passwordChange, userID) { throw AuthError.throttled(retryAfter: wait) }
        guard let row = try connection.query("SELECT password_hash FROM users WHERE id = ?", [.string(userID)]).first else {
            throw AuthError.notFound
        }
        guard let stored = try row.optionalString("password_hash"), case .valid = hasher.check(current, against: stored) else {
            try recordFailure(.passwordChange, userID)
            throw AuthError.invalidCredentials
        }
        try setPassword(userID: userID, new, keepingSession: sessionID)
    }

    /// Sets a password (admin reset, or after ``changePassword(userID:current:new:keepingSession:)``) and revokes the
    /// user's sessions, all of them or all but `keepingSession`.
    public func setPassword(userID: String, _ password: String, keepingSession sessionID: String? = nil) throws {
        if let problem = settings.passwordPolicy.problem(with: password) { throw AuthError(.weakPassword, "Password \(problem)") }
        let hash = try hasher.hash(password)
        let changed = try connection.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
                                             [.string(hash), .date(clock.now()), .string(userID)]).affectedRows
        guard changed == 1 else { throw AuthError.notFound }
        try revokeAllSessions(of: userID, keeping: sessionID)
    }

    /// Changes a user's role.
    public func setRole(userID: String, _ role: String) throws {
        guard Self.isValid(role: role) else { throw AuthError(.invalidInput, "Invalid role") }
        guard try connection.execute("UPDATE users SET role = ?, updated_at = ? WHERE id = ?",
                                     [.string(role), .date(clock.now()), .string(userID)]).affectedRows == 1
        else { throw AuthError.notFound }
    }

    /// Marks a user's email as verified (now).
    public func markEmailVerified(userID: String) throws {
        let now = clock.now()
        guard try connection.execute("""
            UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?
            """, [.date(now), .date(now), .string(userID)]).affectedRows == 1 else { throw AuthError.notFound }
    }

    /// Deletes a user; sessions, tokens and API keys go with it (foreign keys cascade).
    public func deleteUser(id: String) throws {
        guard try connection.execute("DELETE FROM users WHERE id = ?", [.string(id)]).affectedRows == 1 else {
            throw AuthError.notFound
        }
    }
}
