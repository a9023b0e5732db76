public import AuthCore

/// The seed's two cookies, with the same names, paths and attributes (and `Secure` outside development).
public struct AuthCookies: Sendable {
    public static let accessName = "access_token"
    public static let refreshName = "refresh_token"
    public let secure: Bool

    public init(secure: Bool) { self.secure = secure }

    private func cookie(_ name: String, _ value: String, path: String, maxAge: Int) -> (name: String, value: String) {
        ("Set-Cookie", "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Lax\(secure ? "; Secure" : "")")
    }

    /// Both cookies for a token pair: the access cookie on `/`, the refresh cookie only on `/api/auth`.
    public func set(_ pair: TokenPair) -> [(name: String, value: String)] {
        [
            cookie(Self.accessName, pair.accessToken, path: "/", maxAge: pair.accessExpiresIn),
            cookie(Self.refreshName, pair.refreshToken, path: "/api/auth", maxAge: pair.refreshExpiresIn),
        ]
    }

    /// Clears both, repeating each cookie's path and attributes (a deletion without the path leaves it in place).
    public func clear() -> [(name: String, value: String)] {
        [cookie(Self.accessName, "", path: "/", maxAge: 0), cookie(Self.refreshName, "", path: "/api/auth", maxAge: 0)]
    }
}
