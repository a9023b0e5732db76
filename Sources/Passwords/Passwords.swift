/// Passwords: password hashing, the only importer of `CArgon2` (libargon2) and `CCrypt` (libxcrypt).
///
/// Argon2id in PHC format (``Argon2Hasher``), verification of imported Argon2i and bcrypt hashes with rehashing,
/// the ``PasswordPolicy``, and the ``HashingLimiter`` that bounds hashes in flight across the worker pool.
public enum PasswordsModule {}
