import FoundationEssentials
import Logging

extension SessionService {
    /// Rotates a refresh token: the presented token is retired and a successor issued, in one transaction.
    ///
    /// - A token already rotated is answered with the session's current pair (same refresh `jti`) when it is the
    ///   immediate predecessor of the active token and was rotated less than `tokens.refresh_grace` ago (tabs
    ///   refreshing at once). Otherwise it is reuse: the whole family is revoked (committed) and the call fails.
    /// - A deadlock, lock wait timeout or Galera certification failure runs the transaction again; if this request's
    ///   own conditional update had already succeeded before the conflict, finding the token rotated by the other
    ///   party is the race it is, not a replay, and gets the current pair.
    /// - A failure anywhere else rolls back: the presented token stays valid.
    ///
    /// - Throws: ``AuthError`` (`invalidToken`, `tokenExpired`, `tokenReused`, `sessionExpired`, `sessionRevoked`,
    ///   or a database failure).
    public func refresh(_ token: String, client: ClientContext) throws(AuthError) -> TokenPair {
        let now = clock.now()
        let claims = try issuer.verifyRefreshToken(token, now: now)
        var wonBeforeConflict = false
        func rotation(causal: Bool) throws(AuthError) -> RotationOutcome {
            try database.transaction { attempt throws(AuthError) in
                let outcome = try rotate(claims, client: client, now: now, wonBeforeConflict: &wonBeforeConflict)
                logAttempt(outcome, claims, attempt: attempt, causal: causal)
                return outcome
            }
        }
        var outcome = try rotation(causal: false)
        // On a Galera cluster the token (or its session) may have been written through another node moments ago and
        // not be applied here yet: an unknown token is looked for once more with causal reads before it is refused
        // (a rotation on node A, then the next refresh on node B). The refused attempt wrote nothing.
        if case .refused(let error) = outcome, error.code == .invalidToken, database.isClusterNode {
            outcome = try database.withCausalReads { () throws(AuthError) in try rotation(causal: true) }
        }
        // On a Galera node a rotation is read back before its pair is handed out. Under racing refreshes of one token
        // through three nodes, about one round in 40 of the cluster tier's had a node answer the COMMIT of a rotation
        // with OK while the cluster kept the rotation that raced it: the answer named a token that never existed (a
        // client logged out at its next refresh). The read is one statement by primary key, causal (it waits until
        // this node has applied what the cluster committed before it, so a winner through another node is seen);
        // if the token's successor is not the one just issued, the commit did not hold and the rotation runs again
        // like one that lost a conflict after winning its update locally, and that run's rotation is read back in
        // turn (at most three times; a rerun almost always finds the winner and answers with its pair).
        var readBacks = 0
        while case .rotated(let pair) = outcome, readBacks < 3, database.isClusterNode || afterRotationCommitForTesting != nil {
            readBacks += 1
            if let hook = afterRotationCommitForTesting { try database.runForTesting { try hook(database) } }
            guard rotationHeld(pair, of: claims) == false else { break }
            logger.warning(
                "a rotation's commit did not hold; running it again",
                metadata: [
                    "event": "rotation_not_committed", "session.id": "\(claims.family)",
                    "token.id": "\(claims.tokenID)", "successor.id": "\(pair.refreshTokenID)",
                ])
            // The successor just issued was never handed out; should its row exist, it must not stay live.
            do {
                try tokens.revokeOrphan(pair.refreshTokenID, family: claims.family, now: now)
            } catch {
                logReadBackFailure("an orphaned successor could not be revoked", claims, error)
            }
            wonBeforeConflict = true
            outcome = try database.withCausalReads { () throws(AuthError) in try rotation(causal: true) }
        }
        switch outcome {
        case .rotated(let pair), .grace(let pair):
            return pair
        case .reused:
            logger.warning(
                "refresh token reuse detected; session revoked",
                metadata: [
                    "event": "refresh_token_reuse", "user.id": "\(claims.userID)", "session.id": "\(claims.family)",
                    "client.ip": "\(client.ip)",
                ])
            // The family's revocation, read back (a refresh of it through another node must not write it back live).
            confirmOrLog(.session(claims.family), cutoff: now)
            throw AuthError.tokenReused
        case .refused(let error):
            throw error
        }
    }

    /// Whether the rotation that issued `pair` is the one the database holds: `false` when the presented token's
    /// successor is another token, `nil` when that cannot be told (the read failed, or the row is gone: purged
    /// after its expiry). Only a definite `false` runs the rotation again: its COMMIT answered OK, and a client
    /// refused now would retry with a token already rotated, which is reuse once the grace window has passed.
    private func rotationHeld(_ pair: TokenPair, of claims: TokenIssuer.RefreshClaims) -> Bool? {
        let state: RefreshTokenStore.State?
        do {
            state = try database.withCausalReads { () throws(AuthError) in try tokens.state(of: claims.tokenID, family: claims.family) }
        } catch {
            logReadBackFailure("a rotation could not be read back; its pair is handed out as committed", claims, error)
            return nil
        }
        guard let state else { return nil }
        return state.replacedBy == pair.refreshTokenID
    }

    /// A `rotation_read_back_failed` warning: the read-back of a rotation, or the revoke of the successor it found
    /// lost, failed on the database.
    private func logReadBackFailure(_ message: Logger.Message, _ claims: TokenIssuer.RefreshClaims, _ error: AuthError) {
        logger.warning(
            message,
            metadata: [
                "event": "rotation_read_back_failed", "session.id": "\(claims.family)",
                "error": "\(error.logCause)",
            ])
    }

    /// What one attempt decided. Reuse commits the family's revocation before the request fails, so it is a result
    /// of the transaction, not an error thrown out of it.
    enum RotationOutcome {
        case rotated(TokenPair)
        case grace(TokenPair)
        case reused
        case refused(AuthError)
    }

    /// What an attempt decided, at debug level, before its commit (a conflict at the commit shows as the
    /// `transaction_retry` line after it): the family, the presented and the handed-out token's `jti` (ids, never
    /// tokens), the attempt and whether it read causally.
    private func logAttempt(_ outcome: RotationOutcome, _ claims: TokenIssuer.RefreshClaims, attempt: Int, causal: Bool) {
        logger.debug(
            "refresh attempt decided",
            metadata: {
                var metadata: Logger.Metadata = [
                    "event": "refresh_attempt", "session.id": "\(claims.family)", "token.id": "\(claims.tokenID)",
                    "attempt": "\(attempt)", "causal": "\(causal)",
                ]
                switch outcome {
                case .rotated(let pair): (metadata["outcome"], metadata["successor.id"]) = ("rotated", "\(pair.refreshTokenID)")
                case .grace(let pair): (metadata["outcome"], metadata["successor.id"]) = ("grace", "\(pair.refreshTokenID)")
                case .reused: metadata["outcome"] = "reused"
                case .refused(let error): metadata["outcome"] = "refused \(error.code)"
                }
                return metadata
            }())
    }

    /// One attempt, inside a transaction.
    private func rotate(
        _ claims: TokenIssuer.RefreshClaims, client: ClientContext, now: Date,
        wonBeforeConflict: inout Bool
    ) throws(AuthError) -> RotationOutcome {
        // Lock the session first: every rotation of a family queues here, in one order (no deadlock between them).
        guard let session = try sessions.lock(claims.family), session.userID == claims.userID else {
            return .refused(.invalidToken)
        }
        if session.isRevoked {
            // A retired token presented to a dead family is still reuse; a token that was active when the family was
            // revoked (logout, or an earlier reuse) is just revoked.
            return try tokens.wasRotated(claims.tokenID) ? .reused : .refused(.sessionRevoked)
        }
        if session.expiresAt <= now { return .refused(.sessionExpired) }

        let successorID = Identifier.make(at: now)
        if try tokens.retire(claims.tokenID, family: claims.family, successor: successorID, client: client, now: now) {
            wonBeforeConflict = true
            if let hook = afterConditionalUpdateForTesting { try database.runForTesting { try hook(database) } }
            let successorExpiry = min(now.addingTimeInterval(settings.refreshTTL.timeInterval), session.expiresAt)
            try tokens.insert(
                id: successorID, userID: claims.userID, family: claims.family, expiresAt: successorExpiry,
                now: now, replaces: claims.tokenID)
            guard let user = try users.find(id: claims.userID) else { return .refused(.invalidToken) }
            return .rotated(
                try issuer.pair(
                    user: user, sessionID: claims.family, tokenID: successorID, issuedAt: now,
                    expiresAt: successorExpiry, authentication: session.authentication, now: now))
        }
        return try explainInactive(claims, authentication: session.authentication, now: now, wonBeforeConflict: wonBeforeConflict)
    }

    /// The presented token was not active: a grace replay, a plain refusal, or reuse (the family is revoked).
    private func explainInactive(
        _ claims: TokenIssuer.RefreshClaims, authentication: Authentication, now: Date, wonBeforeConflict: Bool
    ) throws(AuthError) -> RotationOutcome {
        guard let presented = try tokens.state(of: claims.tokenID, family: claims.family) else {
            return .refused(.invalidToken)
        }
        guard let rotatedAt = presented.rotatedAt, let successor = presented.replacedBy else {
            if presented.revokedAt == nil && presented.expiresAt > now {
                // Active now, yet the conditional update found nothing: on a Galera node the token's row (written
                // through another node by the rotation that issued it) arrived between that update's read of the
                // latest rows and this snapshot. Not there yet is answered like not there: the caller reads again
                // causally (nothing was written).
                return .refused(.invalidToken)
            }
            // Revoked by a logout, or expired without being rotated.
            return .refused(presented.revokedAt == nil ? .tokenExpired : .sessionRevoked)
        }
        let withinGrace = settings.refreshGrace > .zero && now.timeIntervalSince(rotatedAt) < settings.refreshGrace.timeInterval
        if withinGrace || wonBeforeConflict, let active = try tokens.active(successor, family: claims.family, now: now) {
            // The immediate predecessor of the active token, rotated moments ago: the session's current pair. Nothing
            // is written (the rotation touched the session moments ago): a grace answer has no write set, so racing
            // tabs on several Galera nodes cannot conflict with the rotation they lost to.
            guard let user = try users.find(id: claims.userID) else { return .refused(.invalidToken) }
            return .grace(
                try issuer.pair(
                    user: user, sessionID: claims.family, tokenID: active.id,
                    issuedAt: active.createdAt, expiresAt: active.expiresAt, authentication: authentication, now: now, grace: true))
        }
        // Reuse of a retired token: revoke the whole family. The caller commits this and then fails the request.
        try revokeFamily(claims.family, now: now)
        return .reused
    }
}
