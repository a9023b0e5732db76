package import FoundationEssentials
import MariaDB

/// The `users` table: accounts, their password hashes and roles. Owns every statement on that table.
package struct UserStore {
    let database: Database

    /// The columns of ``User``, for reads that join `users` as `u`.
    package static let columns = "u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at"

    /// A user and the stored password hash (`nil` for an account without a password).
    package struct Credentials {
        package let user: User
        package let passwordHash: String?
        /// Raised by every password set: what device cookies are bound to.
        package let authEpoch: Int64
    }

    /// Inserts a user. An email already taken throws ``AuthError/emailTaken``.
    package func insert(_ user: User, passwordHash: String?, at now: Date) throws(AuthError) {
        do {
            try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    """
                    INSERT INTO users (id, email, password_hash, name, role, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .string(user.id), .string(user.email), passwordHash.map { .string($0) } ?? .null,
                        user.name.map { .string($0) } ?? .null, .string(user.role), .date(now), .date(now),
                    ])
            }
        } catch let error where error.storage?.kind == .duplicateKey {
            throw AuthError.emailTaken
        }
    }

    /// A user by id.
    package func find(id: String) throws(AuthError) -> User? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(HotPathSQL.loadUser, [.string(id)]).first.map(Self.user(from:))
        }
    }

    /// A user by (normalised) email.
    package func find(email: String) throws(AuthError) -> User? {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT \(Self.columns) FROM users u WHERE u.email = ?", [.string(email)])
                .first.map(Self.user(from:))
        }
    }

    /// A user and their password hash, by (normalised) email: login's read.
    package func credentials(email: String) throws(AuthError) -> Credentials? {
        // Causal: an account registered through another node moments ago may not be applied here yet.
        try database.causal { () throws(AuthError) in try credentialsOnce(email: email) }
    }

    private func credentialsOnce(email: String) throws(AuthError) -> Credentials? {
        try database.run { connection throws(MariaDBError) in
            guard
                let row = try connection.query(
                    "SELECT \(Self.columns), u.password_hash, u.auth_epoch FROM users u WHERE u.email = ?", [.string(email)]
                ).first
            else { return nil }
            return Credentials(
                user: try Self.user(from: row), passwordHash: try row.optionalString("password_hash"),
                authEpoch: try row.int("auth_epoch"))
        }
    }

    /// A user's authentication epoch (``Credentials/authEpoch``), if the user exists.
    package func authEpoch(id: String) throws(AuthError) -> Int64? {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT auth_epoch FROM users WHERE id = ?", [.string(id)]).first?.int("auth_epoch")
        }
    }

    /// The stored password hash of a user: `.none` when the user does not exist, `.some(nil)` without a password.
    package func passwordHash(id: String) throws(AuthError) -> String?? {
        try database.run { connection throws(MariaDBError) in
            guard let row = try connection.query("SELECT password_hash FROM users WHERE id = ?", [.string(id)]).first
            else { return .none }
            return .some(try row.optionalString("password_hash"))
        }
    }

    /// All users, by email.
    package func list(limit: Int) throws(AuthError) -> [User] {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT \(Self.columns) FROM users u ORDER BY u.email LIMIT ?", [.int(Int64(limit))])
                .map(Self.user(from:))
        }
    }

    /// Sets a password hash and raises the authentication epoch (device cookies issued before are strangers after it).
    /// Returns whether the user exists.
    package func setPasswordHash(id: String, _ hash: String, at now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE users SET password_hash = ?, auth_epoch = auth_epoch + 1, updated_at = ? WHERE id = ?",
                [.string(hash), .date(now), .string(id)]
            ).affectedRows == 1
        }
    }

    /// Replaces a hash with a stronger one, only if it is still the one that was checked (a concurrent password
    /// change wins).
    package func upgradePasswordHash(id: String, from old: String, to new: String, at now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?",
                [.string(new), .date(now), .string(id), .string(old)])
        }
    }

    /// Sets a role. Returns whether the user exists.
    package func setRole(id: String, _ role: String, at now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE users SET role = ?, updated_at = ? WHERE id = ?",
                [.string(role), .date(now), .string(id)]
            ).affectedRows == 1
        }
    }

    /// Marks the email verified (keeping an earlier verification time). Returns whether the user exists.
    package func markEmailVerified(id: String, at now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?
                """, [.date(now), .date(now), .string(id)]
            ).affectedRows == 1
        }
    }

    /// Replaces the address with a confirmed new one (verified now). An address taken meanwhile throws
    /// ``AuthError/emailTaken``. Returns whether the user exists.
    package func changeEmail(id: String, to email: String, at now: Date) throws(AuthError) -> Bool {
        do {
            return try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    "UPDATE users SET email = ?, email_verified_at = ?, updated_at = ? WHERE id = ?",
                    [.string(email), .date(now), .date(now), .string(id)]
                ).affectedRows == 1
            }
        } catch let error where error.storage?.kind == .duplicateKey {
            throw AuthError.emailTaken
        }
    }

    /// Deletes a user; sessions, tokens and API keys go with it (foreign keys cascade). Returns whether it existed.
    package func delete(id: String) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute("DELETE FROM users WHERE id = ?", [.string(id)]).affectedRows == 1
        }
    }

    /// A ``User`` from a row with ``columns``.
    static func user(from row: Row) throws(MariaDBError) -> User {
        User(
            id: try row.string("id"), email: try row.string("email"), name: try row.optionalString("name"),
            role: try row.string("role"), emailVerifiedAt: try row.optionalDate("email_verified_at"),
            createdAt: try row.date("created_at"))
    }
}
