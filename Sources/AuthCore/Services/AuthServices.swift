public import Logging
public import Passwords

/// The domain of one thread, composed: each service over the thread's ``Database``. The composition root
/// (`jwt-authd`'s `ServiceGraph`) builds one per worker thread and one for each admin command; handlers take the
/// services they need, not this whole object.
public final class AuthServices {
    public let database: Database
    public let tokens: TokenIssuer
    public let accounts: AccountService
    public let sessions: SessionService
    public let apiKeys: APIKeyService
    public let throttle: ThrottleService
    public let cleanup: CleanupService
    public let mfa: MFAService
    public let passkeys: PasskeyService
    public let settings: AuthSettings

    /// Composes the services over `database`.
    ///
    /// - Parameters:
    ///   - settings: Built once per process from the configuration and keys.
    ///   - hasher: The password hasher (shared by the process's threads; it is stateless).
    ///   - clock: The time source (a manual clock in tests).
    public init(
        settings: AuthSettings, database: Database, hasher: any PasswordHashing,
        clock: any AuthClock = SystemClock(), logger: Logger
    ) {
        self.settings = settings
        self.database = database
        tokens = TokenIssuer(settings: settings, clock: clock)
        throttle = ThrottleService(limits: settings.throttle, database: database, clock: clock)
        sessions = SessionService(settings: settings, issuer: tokens, database: database, clock: clock, logger: logger)
        mfa = MFAService(database: database, keys: settings.mfaKeys, settings: settings.mfa, clock: clock, logger: logger)
        passkeys = PasskeyService(settings: settings, database: database, mfa: mfa, clock: clock, logger: logger)
        accounts = AccountService(
            settings: settings, hasher: hasher, database: database, throttle: throttle, sessions: sessions, mfa: mfa,
            passkeys: passkeys, clock: clock, logger: logger)
        apiKeys = APIKeyService(database: database, clock: clock, defaultLifetime: settings.apiKeyLifetime)
        cleanup = CleanupService(database: database, throttleWindow: settings.throttle.window.timeInterval, clock: clock)
    }
}
