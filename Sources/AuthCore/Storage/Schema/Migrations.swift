public import MariaDB

/// One schema version: trusted, constant SQL statements applied in order by ``Migrator``.
public struct Migration: Sendable {
    /// The version number, strictly increasing.
    public let version: Int
    /// A short name for logs and `schema_migrations`.
    public let name: String
    /// The statements, each applied on its own (MariaDB DDL commits implicitly, so each must be re-runnable).
    public let statements: [String]
    /// Work on the rows after the statements that SQL alone cannot do (re-runnable too); each line it returns is
    /// reported to whoever runs `migrate`.
    public let rows: (@Sendable (Connection) throws -> [String])?

    init(version: Int, name: String, statements: [String], rows: (@Sendable (Connection) throws -> [String])? = nil) {
        self.version = version
        self.name = name
        self.statements = statements
        self.rows = rows
    }

    /// Every migration, oldest first. Append only: a released migration is never edited.
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "users_and_refresh_tokens",
            statements: [
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
        Migration(
            version: 2, name: "sessions_rotation_api_keys_throttle",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS sessions (
                    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    created_at DATETIME(6) NOT NULL,
                    last_used_at DATETIME(6) NOT NULL,
                    expires_at DATETIME(6) NOT NULL,
                    revoked_at DATETIME(6) NULL,
                    user_agent VARCHAR(512) NULL,
                    ip VARCHAR(45) CHARACTER SET ascii COLLATE ascii_bin NULL,
                    PRIMARY KEY (id),
                    KEY sessions_user_id_idx (user_id, revoked_at),
                    KEY sessions_expires_at_idx (expires_at),
                    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
                // Families issued before sessions existed get a session each, so the foreign key below holds.
                """
                INSERT IGNORE INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
                SELECT family, MIN(user_id), MIN(created_at), MAX(created_at), MAX(expires_at),
                       IF(SUM(revoked_at IS NULL) = 0, MAX(revoked_at), NULL)
                FROM refresh_tokens GROUP BY family
                """,
                "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS replaced_by CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL",
                "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS rotated_at DATETIME(6) NULL",
                """
                ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_family_fk
                    FOREIGN KEY IF NOT EXISTS (family) REFERENCES sessions (id) ON DELETE CASCADE
                """,
                """
                CREATE TABLE IF NOT EXISTS api_keys (
                    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    prefix VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    key_hash BINARY(32) NOT NULL,
                    name VARCHAR(100) NOT NULL,
                    created_at DATETIME(6) NOT NULL,
                    last_used_at DATETIME(6) NULL,
                    expires_at DATETIME(6) NULL,
                    revoked_at DATETIME(6) NULL,
                    PRIMARY KEY (id),
                    UNIQUE KEY api_keys_key_hash_key (key_hash),
                    KEY api_keys_user_id_idx (user_id),
                    CONSTRAINT api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
                """
                CREATE TABLE IF NOT EXISTS auth_throttle (
                    scope VARCHAR(24) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    subject BINARY(32) NOT NULL,
                    window_start DATETIME(6) NOT NULL,
                    failures INT UNSIGNED NOT NULL,
                    PRIMARY KEY (scope, subject),
                    KEY auth_throttle_window_idx (window_start)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """,
            ]),
        // Emails are compared byte for byte on their one stored spelling (EmailAddress): the old case- and
        // accent-insensitive comparison let other spellings of an address reach its account past its login limit.
        Migration(
            version: 3, name: "users_email_binary_canonical",
            statements: [
                "ALTER TABLE users MODIFY email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
            ],
            rows: EmailCanonicalisation.run),
        // A session remembers its last act of authentication (creating an API key needs a recent one); keys get scopes.
        Migration(
            version: 4, name: "session_auth_time_api_key_scope",
            statements: [
                "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS auth_time DATETIME(6) NULL",
                "UPDATE sessions SET auth_time = created_at WHERE auth_time IS NULL",
                """
                ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS
                    scope VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'full'
                """,
            ]),
        // Device cookies (docs/security.md, *Lockout as a weapon*) are bound to this number, which every password set
        // by any means raises: entries issued before a password change are strangers after it.
        Migration(
            version: 5, name: "users_auth_epoch",
            statements: ["ALTER TABLE users ADD COLUMN IF NOT EXISTS auth_epoch INT UNSIGNED NOT NULL DEFAULT 0"]),
        // Single-use tokens sent by mail (only their SHA-256), and the transactional outbox the mail goes through:
        // a message row exists exactly when its token does (one transaction), and a sender delivers from it.
        Migration(
            version: 6, name: "one_time_tokens_mail_outbox",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS one_time_tokens (
                    token_hash BINARY(32) NOT NULL,
                    purpose VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    bound_epoch INT UNSIGNED NULL,
                    bound_email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
                    created_at DATETIME(6) NOT NULL,
                    expires_at DATETIME(6) NOT NULL,
                    consumed_at DATETIME(6) NULL,
                    PRIMARY KEY (token_hash),
                    KEY one_time_tokens_user_idx (user_id, purpose),
                    KEY one_time_tokens_expires_at_idx (expires_at),
                    CONSTRAINT one_time_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
                """
                CREATE TABLE IF NOT EXISTS mail_outbox (
                    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    recipient VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
                    message MEDIUMBLOB NOT NULL,
                    status VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'queued',
                    attempts INT UNSIGNED NOT NULL DEFAULT 0,
                    next_attempt_at DATETIME(6) NOT NULL,
                    claimed_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
                    lease_until DATETIME(6) NULL,
                    last_error VARCHAR(500) NULL,
                    created_at DATETIME(6) NOT NULL,
                    sent_at DATETIME(6) NULL,
                    PRIMARY KEY (id),
                    KEY mail_outbox_due_idx (status, next_attempt_at)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
            ]),
        // Second factors (#17): one row per factor of any kind (TOTP now, passkeys later), its secret sealed with
        // AES-256-GCM under the key `key_id` names; `last_step` makes a TOTP code usable once across every host (a
        // conditional update). Recovery codes as keyed HMAC-SHA-256, each usable once.
        Migration(
            version: 7, name: "mfa_factors_recovery_codes",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS mfa_factors (
                    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    kind VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    name VARCHAR(100) NULL,
                    status VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'pending',
                    key_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
                    secret VARBINARY(255) NULL,
                    last_step BIGINT NULL,
                    created_at DATETIME(6) NOT NULL,
                    expires_at DATETIME(6) NULL,
                    confirmed_at DATETIME(6) NULL,
                    last_used_at DATETIME(6) NULL,
                    PRIMARY KEY (id),
                    KEY mfa_factors_user_idx (user_id, status),
                    KEY mfa_factors_key_idx (key_id),
                    CONSTRAINT mfa_factors_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
                """
                CREATE TABLE IF NOT EXISTS mfa_recovery_codes (
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    code_hash BINARY(32) NOT NULL,
                    created_at DATETIME(6) NOT NULL,
                    used_at DATETIME(6) NULL,
                    PRIMARY KEY (user_id, code_hash),
                    CONSTRAINT mfa_recovery_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
            ]),
        // How sessions authenticated (#17): `amr` (RFC 8176 values, comma-separated; sessions from before are
        // password sessions). Logins waiting for their second factor: a random token's SHA-256 (the `mfa_pending`
        // cookie), its attempts counted by a conditional update, bound to the account's epoch.
        Migration(
            version: 8, name: "session_amr_mfa_challenges",
            statements: [
                """
                ALTER TABLE sessions ADD COLUMN IF NOT EXISTS
                    amr VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'pwd'
                """,
                """
                CREATE TABLE IF NOT EXISTS mfa_challenges (
                    token_hash BINARY(32) NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    purpose VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    methods VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    bound_epoch INT UNSIGNED NOT NULL,
                    attempts INT UNSIGNED NOT NULL DEFAULT 0,
                    created_at DATETIME(6) NOT NULL,
                    expires_at DATETIME(6) NOT NULL,
                    completed_at DATETIME(6) NULL,
                    PRIMARY KEY (token_hash),
                    KEY mfa_challenges_user_idx (user_id),
                    KEY mfa_challenges_expires_at_idx (expires_at),
                    CONSTRAINT mfa_challenges_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
            ]),
        // Passkeys (#18): a passkey is a factor (`mfa_factors.kind = 'passkey'`, no secret) whose public part lives in
        // `passkeys`, found by the SHA-256 of its credential id (unique across users: one authenticator credential
        // registers once). Users get a random WebAuthn user handle when they register their first passkey. Ceremony
        // challenges are stored as their SHA-256 and consumed once by a conditional update.
        Migration(
            version: 9, name: "passkeys",
            statements: [
                "ALTER TABLE users ADD COLUMN IF NOT EXISTS webauthn_handle BINARY(32) NULL",
                "CREATE UNIQUE INDEX IF NOT EXISTS users_webauthn_handle_idx ON users (webauthn_handle)",
                """
                CREATE TABLE IF NOT EXISTS passkeys (
                    factor_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    credential_hash BINARY(32) NOT NULL,
                    credential_id VARBINARY(1023) NOT NULL,
                    public_key BLOB NOT NULL,
                    algorithm SMALLINT NOT NULL,
                    sign_count INT UNSIGNED NOT NULL,
                    backup_eligible TINYINT(1) NOT NULL,
                    backup_state TINYINT(1) NOT NULL,
                    user_verified TINYINT(1) NOT NULL,
                    transports VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
                    aaguid BINARY(16) NOT NULL,
                    attestation_format VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    PRIMARY KEY (factor_id),
                    UNIQUE KEY passkeys_credential_idx (credential_hash),
                    KEY passkeys_user_idx (user_id),
                    CONSTRAINT passkeys_factor_fk FOREIGN KEY (factor_id) REFERENCES mfa_factors (id) ON DELETE CASCADE,
                    CONSTRAINT passkeys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
                """
                CREATE TABLE IF NOT EXISTS webauthn_challenges (
                    challenge_hash BINARY(32) NOT NULL,
                    purpose VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
                    pending_hash BINARY(32) NULL,
                    created_at DATETIME(6) NOT NULL,
                    expires_at DATETIME(6) NOT NULL,
                    used_at DATETIME(6) NULL,
                    PRIMARY KEY (challenge_hash),
                    KEY webauthn_challenges_expires_at_idx (expires_at),
                    CONSTRAINT webauthn_challenges_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
                """,
            ]),
        // #19: a token has at most one successor, enforced by the schema as well as by the conditional update that
        // retires it: two rotations of one token committing on two Galera nodes would need two rows with the same
        // `replaces`, and a unique key is part of each write set's certification keys (one of them fails, 1213).
        Migration(
            version: 10, name: "one_successor",
            statements: [
                """
                ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS
                    replaces CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL
                """,
                "CREATE UNIQUE INDEX IF NOT EXISTS refresh_tokens_replaces_idx ON refresh_tokens (replaces)",
            ]),
        // Whose consumption a single-use row holds: a random claim written with the conditional update that consumes it,
        // read back after the commit on a Galera node (Database.keeps), where two nodes can both answer OK to the
        // COMMIT of one row's consumption.
        Migration(
            version: 11, name: "single_use_claims",
            statements: [
                "ALTER TABLE one_time_tokens ADD COLUMN IF NOT EXISTS claim BINARY(16) NULL",
                "ALTER TABLE mfa_challenges ADD COLUMN IF NOT EXISTS claim BINARY(16) NULL",
                "ALTER TABLE mfa_factors ADD COLUMN IF NOT EXISTS step_claim BINARY(16) NULL",
                "ALTER TABLE mfa_factors ADD COLUMN IF NOT EXISTS activation_claim BINARY(16) NULL",
                "ALTER TABLE mfa_recovery_codes ADD COLUMN IF NOT EXISTS claim BINARY(16) NULL",
                "ALTER TABLE webauthn_challenges ADD COLUMN IF NOT EXISTS claim BINARY(16) NULL",
            ]),
    ]
}
