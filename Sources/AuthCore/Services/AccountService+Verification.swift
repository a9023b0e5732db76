import FoundationEssentials
import Logging
import Passwords

/// What a registration did: signed the user in, or (the site requires a verified address, or the address was taken
/// and registration is enumeration-safe) mailed a link and signed no one in.
public enum Registration: Sendable {
    case signedIn(TokenPair)
    case verificationRequired
}

/// Where the links of account mail go (the site's public URL, or in development the request's, and its pages).
public struct AccountMailLinks: Sendable {
    /// The page a verification or email change link opens.
    public let verify: MailComposer.Link
    /// The page that asks for a password reset link.
    public let forgot: MailComposer.Link

    public init(verify: MailComposer.Link, forgot: MailComposer.Link) {
        self.verify = verify
        self.forgot = forgot
    }
}

/// Email verification and email change by mail (#16): single-use tokens bound to the address they were sent to,
/// written with their message in one transaction.
extension AccountService {
    /// Confirms an address with a token from a verification or email change message. In one transaction the token
    /// is consumed (a conditional update: of concurrent posts only one wins) and the address marked verified, or for
    /// a change, the account's address replaced by the new one (verified), and the account's other unused links
    /// retired (a reset link sent to the old address must not outlive the change).
    ///
    /// - Throws: ``AuthError`` `emailTokenInvalid` (unknown, used, expired, superseded, or no longer bound: the
    ///   account's address changed since, or for a change, its password); `emailTaken` when the new address was
    ///   taken meanwhile (the token is then not used up).
    public func verifyEmail(token: String) throws(AuthError) -> User {
        guard let digest = OneTimeToken.digest(of: token) else { throw AuthError.emailTokenInvalid }
        let now = clock.now()
        // Causal on a cluster: the token may have been written through another node moments ago.
        // Re-run safe: the token's consumption is conditional and rolled back with a failed attempt.
        let (userID, changed) = try database.causalTransaction(failingWith: [.emailTokenInvalid]) { _ throws(AuthError) in
            // Not read back after the commit (as a reset is): two posts of one link that both answer OK through two
            // Galera nodes did the same thing.
            guard
                let consumed = try oneTimeTokens.consume(
                    digest: digest, purposes: [.emailVerification, .emailChange], now: now, claim: Claim())
            else { throw AuthError.emailTokenInvalid }
            if consumed.purpose == .emailChange, let newEmail = consumed.email {
                guard try users.changeEmail(id: consumed.userID, to: newEmail, at: now) else { throw AuthError.emailTokenInvalid }
                try oneTimeTokens.retireAll(of: consumed.userID, now: now)
                return (consumed.userID, true)
            }
            guard try users.markEmailVerified(id: consumed.userID, at: now) else { throw AuthError.emailTokenInvalid }
            return (consumed.userID, false)
        }
        guard let user = try users.find(id: userID) else { throw AuthError.emailTokenInvalid }
        logger.info(
            changed ? "email changed" : "email verified",
            metadata: ["event": changed ? "email_changed" : "email_verified", "user.id": "\(userID)"])
        return user
    }

    /// Sends a new verification link: to the signed-in user (`userID`), or to the account of `email` (someone kept
    /// out by `accounts.require_verified_email`). The same answer whether the account exists, is verified already or
    /// not: nothing, after the same throttle work (the password reset's limits, shared) and lookup.
    ///
    /// - Throws: ``AuthError`` `invalidInput` for an implausible address, `throttled`.
    public func resendVerification(email rawEmail: String?, userID: String?, client: ClientContext, link: MailComposer.Link)
        throws(AuthError)
    {
        var found: User?
        let email: String
        if let userID {
            found = try users.find(id: userID)
            email = found?.email ?? ""
        } else {
            email = EmailAddress.normalize(rawEmail ?? "")
            guard EmailAddress.isPlausible(email) else { throw AuthError(.invalidInput, "Invalid email address") }
        }
        if let (scope, wait) = try throttle.reserveForgot(email: email, ip: client.ip) {
            logger.notice(
                "verification mail throttled",
                metadata: ["event": "verification_throttled", "scope": "\(scope.rawValue)", "client.ip": "\(client.ip)"])
            throw AuthError.throttled(retryAfter: wait)
        }
        if userID == nil { found = try users.find(email: email) }
        guard let user = found, user.emailVerifiedAt == nil else { return }
        let now = clock.now()
        // Re-run safe: each attempt makes its own token and message; a rolled-back one left neither.
        try database.transaction { _ throws(AuthError) in try queueVerification(for: user, link: link, now: now) }
        logger.info("verification mail requested", metadata: ["event": "verification_requested", "user.id": "\(user.id)"])
    }

    /// A signed-in user's request to change their address, with their password again (throttled like a password
    /// change). A confirmation link goes to the new address and a notice to the old one; the change happens when the
    /// link is used (``verifyEmail(token:)``). An address in use by another account gets the same answer and no mail.
    ///
    /// - Throws: ``AuthError`` `invalidInput` (implausible, or the current address), `invalidCredentials`,
    ///   `throttled`, `busy`.
    public func requestEmailChange(userID: String, newEmail rawEmail: String, password: String, link: MailComposer.Link)
        throws(AuthError)
    {
        let newEmail = EmailAddress.normalize(rawEmail)
        guard EmailAddress.isPlausible(newEmail) else { throw AuthError(.invalidInput, "Invalid email address") }
        guard hasher.enterQueue() else { throw AuthError.busy }
        defer { hasher.leaveQueue() }
        try checkCurrentPassword(userID: userID, password)
        guard let user = try users.find(id: userID), let epoch = try users.authEpoch(id: userID) else { throw AuthError.notFound }
        guard newEmail != user.email else { throw AuthError(.invalidInput, "This is already the account's address") }
        guard try users.find(email: newEmail) == nil else { return }
        let (token, digest) = OneTimeToken.make()
        let now = clock.now()
        let confirmation = mail.changeEmail(
            to: newEmail, account: user.email, link: link, token: token, lifetime: verifyTokenLifetime, now: now)
        let notice = mail.emailChangedNotice(to: user.email, newAddress: newEmail, now: now)
        guard let confirmationBytes = confirmation.rendered(), let noticeBytes = notice.rendered() else { return }
        // Re-run safe: the token and messages were made before; older tokens are retired (idempotent), this one and
        // its messages are inserted once by the attempt that commits.
        try database.transaction { _ throws(AuthError) in
            try oneTimeTokens.replace(
                digest: digest, purpose: .emailChange, userID: userID, epoch: epoch, email: newEmail,
                now: now, expiresAt: now.addingTimeInterval(verifyTokenLifetime.timeInterval))
            try outbox.enqueue(id: Identifier.make(at: now), recipient: newEmail, message: confirmationBytes, now: now)
            try outbox.enqueue(id: Identifier.make(at: now), recipient: user.email, message: noticeBytes, now: now)
        }
        logger.info("email change requested", metadata: ["event": "email_change_requested", "user.id": "\(userID)"])
    }

    /// The outbox in numbers, for the metrics: one grouped read of a table the cleanup keeps small.
    public func mailQueueStats() throws(AuthError) -> MailQueueStats { try outbox.stats(now: clock.now()) }

    /// Writes a verification token for the user's current address and its message (inside the caller's transaction;
    /// `newAccount`: the user is inserted by it).
    func queueVerification(for user: User, link: MailComposer.Link, now: Date, newAccount: Bool = false) throws(AuthError) {
        let (token, digest) = OneTimeToken.make()
        let message = mail.verifyEmail(to: user.email, link: link, token: token, lifetime: verifyTokenLifetime, now: now)
        guard let rendered = message.rendered() else { return }
        try oneTimeTokens.replace(
            digest: digest, purpose: .emailVerification, userID: user.id, epoch: nil, email: user.email,
            now: now, expiresAt: now.addingTimeInterval(verifyTokenLifetime.timeInterval), newAccount: newAccount)
        try outbox.enqueue(id: Identifier.make(at: now), recipient: user.email, message: rendered, now: now)
    }

    /// "You already have an account", to the owner of a taken address (enumeration-safe registration).
    func queueAccountExists(email: String, link: MailComposer.Link) throws(AuthError) {
        let now = clock.now()
        guard let rendered = mail.accountExists(to: email, forgotPage: link, now: now).rendered() else { return }
        try outbox.enqueue(id: Identifier.make(at: now), recipient: email, message: rendered, now: now)
        logger.info("registration of a taken address", metadata: ["event": "registration_address_taken"])
    }
}

extension AuthError {
    public static let emailTokenInvalid = AuthError(.emailTokenInvalid, "This link is not valid any more")
    public static let emailUnverified = AuthError(.emailUnverified, "The email address is not verified")
}
