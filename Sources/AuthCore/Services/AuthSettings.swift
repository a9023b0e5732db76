public import JOSE
public import Passwords
public import WebAuthn

/// Everything the domain needs that is the same on every thread: lifetimes, keys, signers and verifiers, limits.
public struct AuthSettings: Sendable {
    public let accessTTL: Duration
    public let refreshTTL: Duration
    public let sessionMaxAge: Duration
    public let refreshGrace: Duration
    public let accessSigner: JWTSigner
    public let refreshSigner: JWTSigner
    public let accessVerifier: JWTVerifier
    public let refreshVerifier: JWTVerifier
    /// Access tokens verified with `accessVerifier` in this process (shared by its threads).
    let verifiedAccessTokens = VerifiedAccessTokens()
    public let issuer: String
    public let audience: String
    public let throttle: Config.Throttle
    public let passwordPolicy: PasswordPolicy
    /// How recent a session's last authentication must be to create an API key without the password.
    public let reauthWindow: Duration
    /// The lifetime of an API key created without an expiry; zero: none.
    public let apiKeyLifetime: Duration
    /// Signs and recognises device cookies (the per-device login limit).
    public let devices: DeviceCookies
    /// The messages the service mails.
    public let mail: MailComposer
    /// How long a password reset link works.
    public let resetTokenLifetime: Duration
    /// How long an email verification or change link works.
    public let verifyTokenLifetime: Duration
    /// Login refuses an unverified address (`accounts.require_verified_email`).
    public let requireVerifiedEmail: Bool
    /// Registering a taken address answers like a new one and mails its owner.
    public let enumerationSafeRegistration: Bool
    /// The keys of second-factor secrets (`nil`: MFA unavailable).
    public let mfaKeys: MFAKeyRing?
    /// TOTP's parameters and issuer.
    public let mfa: MFAService.Settings
    /// This site as a WebAuthn relying party (`nil`: passkeys are off).
    public let relyingParty: RelyingParty?

    public init(config: Config, keys: TokenKeys, templates: MailTemplates = MailTemplates(), mfaKeys: MFAKeyRing? = nil) {
        let tokens = config.tokens
        accessTTL = tokens.accessTTL
        refreshTTL = tokens.refreshTTL
        sessionMaxAge = tokens.sessionMaxAge
        refreshGrace = tokens.refreshGrace
        issuer = tokens.issuer
        audience = tokens.audience
        let rules = ClaimRules(issuer: tokens.issuer, audience: tokens.audience, leewaySeconds: tokens.leeway.timeInterval)
        accessSigner = JWTSigner(keys: keys.access, type: .access)
        refreshSigner = JWTSigner(keys: keys.refresh, type: .refresh)
        accessVerifier = JWTVerifier(keys: keys.access, type: .access, rules: rules)
        refreshVerifier = JWTVerifier(keys: keys.refresh, type: .refresh, rules: rules)
        throttle = config.throttle
        passwordPolicy = PasswordPolicy(minimumCharacters: config.passwords.minLength)
        reauthWindow = config.accounts.reauthWindow
        apiKeyLifetime = config.accounts.apiKeyLifetime
        devices = DeviceCookies(refreshKeys: keys.refresh, lifetime: config.throttle.deviceLifetime)
        // Config.load has checked `mail.from`; a hand-made Config falls back to a harmless sender.
        mail = MailComposer(
            from: MailAddress(parsing: config.mail.from) ?? MailAddress(parsing: "noreply@localhost.localdomain")!,
            templates: templates)
        resetTokenLifetime = config.accounts.resetTokenLifetime
        verifyTokenLifetime = config.accounts.verifyTokenLifetime
        requireVerifiedEmail = config.accounts.requireVerifiedEmail
        enumerationSafeRegistration = config.accounts.enumerationSafeRegistration
        self.mfaKeys = mfaKeys
        mfa = MFAService.Settings(
            issuer: config.mfa.issuer.isEmpty ? mail.siteName : config.mfa.issuer, digits: config.mfa.totpDigits,
            period: Int(config.mfa.totpPeriod.components.seconds), skew: config.mfa.totpSkew)
        let passkeys = config.passkeys
        relyingParty =
            passkeys.isEnabled
            ? RelyingParty(
                id: passkeys.rpID, name: passkeys.rpName.isEmpty ? mail.siteName : passkeys.rpName, origins: Set(passkeys.origins),
                topOrigins: Set(passkeys.topOrigins),
                userVerification: RelyingParty.UserVerification(rawValue: passkeys.userVerification) ?? .preferred)
            : nil
    }

    /// The Argon2id parameters of new hashes.
    public static func argon2Parameters(_ config: Config) -> Argon2Parameters {
        Argon2Parameters(
            memoryKiB: UInt32(config.passwords.argon2MemoryKiB),
            iterations: UInt32(config.passwords.argon2Iterations),
            parallelism: UInt32(config.passwords.argon2Parallelism))
    }
}
