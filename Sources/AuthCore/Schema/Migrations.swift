/// One schema version: trusted, constant SQL statements applied in order by ``Migrator``.
public struct Migration: Sendable {
    /// The version number, strictly increasing.
    public let version: Int
    /// A short name for logs and `schema_migrations`.
    public let name: String
    /// The statements, each applied on its own (MariaDB DDL commits implicitly, so each must be re-runnable).
    public let statements: [String]

    /// Every migration, oldest first. Append only: a released migration is never edited.
    public static let all: [Migration] = [
        Migration(version: 1, name: "users_and_refresh_tokens", statements: [
            """
            CREATE TABLE IF NOT EXISTS users (
                id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                email VARCHAR(254) NOT NULL,
                password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
                name VARCHAR(200) NULL,
                role VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'user',
                email_verified_at DATETIME(6) NULL,
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                PRIMARY KEY (id),
                UNIQUE KEY users_email_key (email)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
            """
            CREATE TABLE IF NOT EXISTS refresh_tokens (
                id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                family CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                expires_at DATETIME(6) NOT NULL,
                revoked_at DATETIME(6) NULL,
                created_at DATETIME(6) NOT NULL,
                PRIMARY KEY (id),
                KEY refresh_tokens_user_id_idx (user_id),
                KEY refresh_tokens_family_idx (family),
                KEY refresh_tokens_expires_at_idx (expires_at),
                CONSTRAINT refresh_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
        ]),
    ]
}
