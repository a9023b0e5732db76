package import FoundationEssentials
import JOSE
import StrictJSON

/// Signs access and refresh tokens and verifies them: no database. Shared by every thread (immutable).
public struct TokenIssuer: Sendable {
    let settings: AuthSettings
    let clock: any AuthClock

    public init(settings: AuthSettings, clock: any AuthClock = SystemClock()) {
        self.settings = settings
        self.clock = clock
    }

    /// The claims of a verified refresh token that a rotation needs.
    package struct RefreshClaims {
        package let tokenID: String
        package let family: String
        package let userID: String
    }

    /// Verifies an access token without touching the database (stateless: valid until `exp` even if its session was
    /// revoked; routes that read the database anyway also check the session). A token this process verified before
    /// is answered from ``VerifiedAccessTokens`` (the same answer, its time checks repeated).
    ///
    /// - Throws: ``AuthError/invalidToken`` or ``AuthError/tokenExpired``.
    public func verifyAccessToken(_ token: String) throws(AuthError) -> AccessClaims {
        let now = clock.now()
        let verifier = settings.accessVerifier
        // (An oversized token is refused by the verifier before anything else; it is not hashed first.)
        let digest = token.utf8.count <= verifier.rules.maxTokenBytes ? VerifiedAccessTokens.Digest(of: token) : nil
        if let digest, let hit = settings.verifiedAccessTokens.entry(digest), now.timeIntervalSince1970 >= hit.validFrom {
            guard now.timeIntervalSince1970 < hit.validUntil else {
                settings.verifiedAccessTokens.forget(digest)
                throw AuthError.tokenExpired
            }
            return hit.claims
        }
        let claims = try verifiedAccessClaims(token, verifier: verifier, now: now)
        if let digest {
            let leeway = verifier.rules.leewaySeconds
            let notBefore = max(claims.notBefore ?? -.infinity, claims.issuedAt ?? -.infinity)
            settings.verifiedAccessTokens.keep(
                .init(claims: claims.access, validFrom: notBefore - leeway, validUntil: claims.expiry + leeway), for: digest,
                now: now.timeIntervalSince1970)
        }
        return claims.access
    }

    /// The full check of an access token at `now`: the claims, and the times the answer depends on.
    private func verifiedAccessClaims(_ token: String, verifier: JWTVerifier, now: Date) throws(AuthError)
        -> (access: AccessClaims, expiry: Double, notBefore: Double?, issuedAt: Double?)
    {
        let verified: VerifiedJWT
        do {
            verified = try verifier.verify(token, now: now)
        } catch {
            throw error.code == .expired ? .tokenExpired : .invalidToken
        }
        guard let sub = verified.string("sub"), let sid = verified.string("sid"), let jti = verified.string("jti"),
            let email = verified.string("email"), let role = verified.string("role"), let exp = verified.number("exp")
        else { throw AuthError.invalidToken }
        // `amr` must be an array of strings when present; values this service does not issue are dropped.
        var methods: [String] = []
        switch verified.claims["amr"] {
        case nil: break
        case .array(let values)?:
            let texts = values.compactMap(\.stringValue)
            guard texts.count == values.count else { throw AuthError.invalidToken }
            methods = Authentication.methods(texts)
        default: throw AuthError.invalidToken
        }
        let authTime = try verified.claims["auth_time"].map { value throws(AuthError) in
            guard let seconds = value.numberValue, seconds.isFinite, seconds >= 0 else { throw AuthError.invalidToken }
            return Date(timeIntervalSince1970: seconds)
        }
        let access = AccessClaims(
            userID: sub, email: email, role: role, emailVerified: verified.bool("email_verified") ?? false, sessionID: sid,
            tokenID: jti, expiresAt: Date(timeIntervalSince1970: exp), authTime: authTime, methods: methods)
        return (access, exp, verified.number("nbf"), verified.number("iat"))
    }

    /// Verifies a refresh token's signature and claims, and that its ids are ours.
    ///
    /// - Throws: ``AuthError/invalidToken`` or ``AuthError/tokenExpired``.
    package func verifyRefreshToken(_ token: String, now: Date) throws(AuthError) -> RefreshClaims {
        let claims: VerifiedJWT
        do {
            claims = try settings.refreshVerifier.verify(token, now: now)
        } catch {
            throw error.code == .expired ? AuthError.tokenExpired : AuthError.invalidToken
        }
        guard let tokenID = claims.string("jti"), let family = claims.string("family"), let subject = claims.string("sub"),
            Identifier.isWellFormed(tokenID), Identifier.isWellFormed(family)
        else { throw AuthError.invalidToken }
        return RefreshClaims(tokenID: tokenID, family: family, userID: subject)
    }

    /// The access and refresh token of a session's refresh token record. Signing the same record again gives a
    /// refresh token with the same `jti` (a grace replay answers with the current pair).
    package func pair(
        user: User, sessionID: String, tokenID: String, issuedAt: Date, expiresAt: Date, authentication: Authentication,
        now: Date, grace: Bool = false
    ) throws(AuthError) -> TokenPair {
        do {
            let access = try accessToken(user: user, sessionID: sessionID, authentication: authentication, now: now)
            let refresh = try settings.refreshSigner.sign([
                ("sub", .string(user.id)), ("family", .string(sessionID)), ("jti", .string(tokenID)),
                ("iss", .string(settings.issuer)), ("aud", .string(settings.audience)),
                ("iat", .int(Int64(issuedAt.timeIntervalSince1970))), ("exp", .int(Int64(expiresAt.timeIntervalSince1970))),
            ])
            return TokenPair(
                accessToken: access, refreshToken: refresh, accessExpiresIn: settings.accessTTL.wholeSeconds,
                refreshExpiresIn: max(0, Int(expiresAt.timeIntervalSince(now))), sessionID: sessionID,
                user: user, isGraceReplay: grace, refreshTokenID: tokenID)
        } catch {
            throw AuthError.internalFailure("token signing: \(error)")
        }
    }

    /// A new access token of a session (after a reauthentication: the refresh token stays).
    package func accessToken(user: User, sessionID: String, authentication: Authentication, now: Date) throws(AuthError) -> String {
        let issued = Int64(now.timeIntervalSince1970)
        do {
            return try settings.accessSigner.sign([
                ("sub", .string(user.id)), ("email", .string(user.email)),
                ("email_verified", .bool(user.emailVerifiedAt != nil)), ("role", .string(user.role)), ("sid", .string(sessionID)),
                ("jti", .string(Identifier.make(at: now))),
                ("iss", .string(settings.issuer)), ("aud", .string(settings.audience)),
                ("iat", .int(issued)), ("exp", .int(issued + Int64(settings.accessTTL.wholeSeconds))),
                ("auth_time", .int(Int64(authentication.time.timeIntervalSince1970))),
                ("amr", .array(authentication.methods.map { .string($0) })),
            ])
        } catch {
            throw AuthError.internalFailure("token signing: \(error)")
        }
    }
}
