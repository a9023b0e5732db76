/// AuthCore: the auth domain, free of HTTP and of C.
///
/// - `Config/`: the configuration, its sources (flags, environment, TOML file) and its validation.
/// - `Model/`: the values the domain hands out (``User``, ``Session``, ``TokenPair``, ids, the clock).
/// - `Errors/`: ``AuthError``, the one error type that leaves AuthCore (storage failures translated inside).
/// - `Tokens/`: keys and ``TokenIssuer`` (signing and verifying, no database).
/// - `Storage/`: one store per table, each owning its SQL, over a thread's ``Database``; the schema and migrations.
///   The only place that imports `MariaDB` besides ``Database`` itself.
/// - `Services/`: the domain services (accounts, sessions and rotation, API keys, throttling, cleanup) composed per
///   thread by ``AuthServices``, and the protocols the HTTP handlers depend on.
public enum AuthCoreModule {}
