public import AuthCore

/// The seed's two cookies, with the same names, paths and attributes (and `Secure` outside development); the
/// access cookie optionally `__Host-` prefixed (`cookies.host_prefix`).
public struct AuthCookies: Sendable {
    public static let defaultAccessName = "access_token"
    public static let hostPrefixedAccessName = "__Host-access_token"
    public static let refreshName = "refresh_token"
    public let secure: Bool
    /// The access cookie's name.
    public let accessName: String

    public init(secure: Bool, hostPrefix: Bool = false) {
        self.secure = secure
        accessName = hostPrefix ? Self.hostPrefixedAccessName : Self.defaultAccessName
    }

    private func cookie(_ name: String, _ value: String, path: String, maxAge: Int, sameSite: String = "Lax")
        -> (name: String, value: String)
    {
        ("Set-Cookie", "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=\(sameSite)\(secure ? "; Secure" : "")")
    }

    /// The device cookie (``AuthCore/DeviceCookies``), on `/api/auth` like the refresh cookie and `SameSite=Strict`:
    /// only this service's own pages ever need to send it. Logout leaves it: it is no credential, only a mark that
    /// this browser signed in to an account before.
    public func setDevice(_ issued: DeviceCookies.Issued) -> (name: String, value: String) {
        cookie(DeviceCookies.name, issued.value, path: "/api/auth", maxAge: issued.maxAge, sameSite: "Strict")
    }

    /// The name of the cookie of a sign-in waiting for its second factor.
    public static let mfaPendingName = "mfa_pending"

    /// The cookie of a sign-in waiting for its second factor: only on `/api/auth/mfa` (the verify route), `Strict`
    /// (only this site's own pages post there), and no credential anywhere else (a random token, not a JWT).
    public func setMFAPending(_ challenge: MFAChallenge) -> (name: String, value: String) {
        cookie(Self.mfaPendingName, challenge.token, path: "/api/auth/mfa", maxAge: challenge.expiresIn, sameSite: "Strict")
    }

    /// Clears the pending sign-in's cookie.
    public func clearMFAPending() -> (name: String, value: String) {
        cookie(Self.mfaPendingName, "", path: "/api/auth/mfa", maxAge: 0, sameSite: "Strict")
    }

    /// The access cookie alone (a reauthentication: the refresh token stays).
    public func setAccess(_ token: String, maxAge: Int) -> (name: String, value: String) {
        cookie(accessName, token, path: "/", maxAge: maxAge)
    }

    /// Both cookies for a token pair: the access cookie on `/`, the refresh cookie only on `/api/auth`.
    public func set(_ pair: TokenPair) -> [(name: String, value: String)] {
        [
            cookie(accessName, pair.accessToken, path: "/", maxAge: pair.accessExpiresIn),
            cookie(Self.refreshName, pair.refreshToken, path: "/api/auth", maxAge: pair.refreshExpiresIn),
        ]
    }

    /// Clears both, repeating each cookie's path and attributes (a deletion without the path leaves it in place).
    public func clear() -> [(name: String, value: String)] {
        [cookie(accessName, "", path: "/", maxAge: 0), cookie(Self.refreshName, "", path: "/api/auth", maxAge: 0)]
    }
}
