import FoundationEssentials
import Logging
import Passwords

/// Password reset by mail (#16): a single-use token, its message written to the outbox in the same transaction.
extension AccountService {
    /// Asks for a password reset link for `email`. The same answer (nothing, no error) for a known and an unknown
    /// address, after the same throttle work and the same lookup: only the token and outbox inserts differ. Counted
    /// per account (its skeleton, known or not) and per client address before anything else.
    ///
    /// - Parameter link: Where the message's link goes (the reset page of the site's public URL).
    /// - Throws: ``AuthError`` `invalidInput` for an address no account can have, `throttled`.
    public func requestPasswordReset(email rawEmail: String, client: ClientContext, link: MailComposer.Link) throws(AuthError) {
        let email = EmailAddress.normalize(rawEmail)
        guard EmailAddress.isPlausible(email) else { throw AuthError(.invalidInput, "Invalid email address") }
        if let (scope, wait) = try throttle.reserveForgot(email: email, ip: client.ip) {
            logger.notice(
                "password reset throttled",
                metadata: ["event": "password_reset_throttled", "scope": "\(scope.rawValue)", "client.ip": "\(client.ip)"])
            throw AuthError.throttled(retryAfter: wait)
        }
        guard let found = try users.credentials(email: email) else { return }
        let (token, digest) = OneTimeToken.make()
        let now = clock.now()
        let message = mail.passwordReset(to: found.user.email, link: link, token: token, lifetime: resetTokenLifetime, now: now)
        guard let rendered = message.rendered() else { return }  // a stored address is always plausible
        // Re-run safe: the token and message were made before; older tokens are retired (idempotent), this one
        // and its message are inserted once by the attempt that commits.
        try database.transaction { _ throws(AuthError) in
            try oneTimeTokens.replace(
                digest: digest, purpose: .passwordReset, userID: found.user.id, epoch: found.authEpoch,
                email: nil, now: now, expiresAt: now.addingTimeInterval(resetTokenLifetime.timeInterval))
            try outbox.enqueue(id: Identifier.make(at: now), recipient: found.user.email, message: rendered, now: now)
        }
        logger.info("password reset requested", metadata: ["event": "password_reset_requested", "user.id": "\(found.user.id)"])
    }

    /// Sets a new password with a reset token and signs the user in: the token is consumed (a conditional update of
    /// its own: of concurrent posts of one token only one wins), then, by the post that won only, in one transaction
    /// the password set (the account's epoch rises, so older reset tokens and device cookies die) and every session
    /// and API key of the user revoked; then a new session starts. Should that transaction fail, the token is given
    /// back, so the link still works.
    ///
    /// Two steps rather than one transaction because of multi-writer Galera: two posts through two nodes can both
    /// commit, and a transaction that lost this way is not always undone whole (measured with `bench/galera-race`:
    /// in every such double commit, the consumed row kept one post's write while the account's row kept the other's,
    /// so the post answered 200 had not set the password the account kept). The consumption is one statement whose
    /// row tells, read back after it, which post won (``Database/keeps(_:_:readBack:)``); the others write nothing else.
    ///
    /// - Throws: ``AuthError`` `weakPassword`; `resetTokenInvalid` for a token that is unknown, used, expired, of an
    ///   older request or from before a password change.
    ///
    /// For a user with an active second factor the reset ends with a challenge, not a session: access to the mailbox
    /// alone never passes a second factor. A reset's session never counts as a recent authentication.
    public func resetPassword(token: String, newPassword: String, client: ClientContext) throws(AuthError) -> SignIn {
        if let problem = policy.problem(with: newPassword) { throw AuthError(.weakPassword, "Password \(problem)") }
        guard let digest = OneTimeToken.digest(of: token) else { throw AuthError.resetTokenInvalid }
        // Hashed before anything is written (tens of milliseconds).
        let hash = try hashPassword(newPassword)
        let now = clock.now()
        let claim = Claim()
        // Causal on a cluster when not found: the token may have been written through another node moments ago.
        guard
            let consumed = try database.causal({ () throws(AuthError) in
                try oneTimeTokens.consume(digest: digest, purposes: [.passwordReset], now: now, claim: claim)
            })
        else { throw AuthError.resetTokenInvalid }
        let userID = consumed.userID
        do throws(AuthError) {
            // A read-back that fails gives the link back too (only while it holds this claim: a post that lost is
            // not undone by it).
            guard try database.keeps(claim, "password_reset", readBack: { () throws(AuthError) in try oneTimeTokens.claim(of: digest) })
            else { throw AuthError.resetTokenInvalid }
            // A factor that cannot be checked now (no keys): nothing changes, and the link keeps working for later.
            if !mfa.isAvailable, try !mfa.activeKinds(userID: userID).isEmpty { throw AuthError.mfaUnavailable }
            // Re-run safe: the hash was made before; the same end state once or twice.
            try database.transaction { _ throws(AuthError) in
                guard try users.setPasswordHash(id: userID, hash, at: now) else { throw AuthError.resetTokenInvalid }
                // The link reached the account's address: that proves it as a verification link would.
                _ = try users.markEmailVerified(id: userID, at: now)
                try sessions.revokeAllInTransaction(of: userID, keeping: nil, keepingAPIKeys: false, now: now)
            }
        } catch {
            do {
                try oneTimeTokens.release(digest: digest, claim: claim)
            } catch let release {
                logger.warning(
                    "a reset link whose reset failed could not be given back",
                    metadata: ["event": "reset_token_not_released", "error": "\(release.logCause)"])
            }
            throw error
        }
        // Every session and key before the reset ended, whatever raced it through another node (a failure to read that
        // back is logged: the reset itself committed, and its answer is owed).
        sessions.confirmOrLog(.user(userID, keeping: nil, apiKeys: true), cutoff: now)
        guard let user = try users.find(id: userID) else { throw AuthError.resetTokenInvalid }
        logger.info("password reset", metadata: ["event": "password_reset", "user.id": "\(userID)"])
        return try afterFirstFactor(user, client: client, purpose: .reset)
    }
}

extension AuthError {
    public static let resetTokenInvalid = AuthError(.resetTokenInvalid, "This link is not valid any more")
}
