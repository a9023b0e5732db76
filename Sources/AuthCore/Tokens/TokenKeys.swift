import CryptoPrimitives
public import JOSE

/// The key sets of access and refresh tokens, built from the configuration at start-up.
public struct TokenKeys: Sendable {
    /// Signs and verifies access tokens.
    public let access: KeySet
    /// Signs and verifies refresh tokens.
    public let refresh: KeySet

    public init(access: KeySet, refresh: KeySet) {
        self.access = access
        self.refresh = refresh
    }

    /// Loads the keys named by `tokens`.
    ///
    /// - Parameter readFile: Reads a key file (injectable for tests).
    /// - Throws: ``ConfigError`` naming the key whose file is missing, unreadable or not a usable key.
    public static func load(_ tokens: Config.Tokens, readFile: (String) throws -> String) throws(ConfigError) -> TokenKeys {
        var problems: [ConfigError.Problem] = []
        func key(_ source: Config.KeySource, prefix: String) -> JWTKey? {
            switch source {
            case .secret(let secret):
                do {
                    return try JWTKey.hmac(secret: SecureBytes(secret.bytes))
                } catch {
                    problems.append(.init(key: prefix + "_secret", message: error.reason))
                    return nil
                }
            case .keyFile(let path):
                return file(path, name: prefix + "_key_file")
            }
        }
        func file(_ path: String, name: String) -> JWTKey? {
            let text: String
            do {
                text = try readFile(path)
            } catch {
                problems.append(.init(key: name, message: "cannot read \(path): check the path and that this user may read it"))
                return nil
            }
            do {
                return try JWTKey.load(fileText: text)
            } catch {
                problems.append(.init(key: name, message: "\(path) is not a usable key: \(error.reason)"))
                return nil
            }
        }
        func keySet(_ source: Config.KeySource, _ verifyFiles: [String], prefix: String) -> KeySet? {
            let signing = key(source, prefix: prefix)
            let previous = verifyFiles.compactMap { file($0, name: prefix + "_verify_key_files") }
            guard let signing, previous.count == verifyFiles.count else { return nil }
            do {
                return try KeySet(signingKey: signing, verifyOnly: previous)
            } catch {
                problems.append(.init(key: prefix + "_verify_key_files", message: error.reason))
                return nil
            }
        }
        let access = keySet(tokens.accessKey, tokens.accessVerifyKeyFiles, prefix: "tokens.access")
        let refresh = keySet(tokens.refreshKey, tokens.refreshVerifyKeyFiles, prefix: "tokens.refresh")
        if let access, let refresh,
            let a = try? access.signingKey.thumbprint(), let r = try? refresh.signingKey.thumbprint(), a == r
        {
            problems.append(.init(key: "tokens.refresh_key_file", message: "must be a different key from the access key"))
        }
        // A previous refresh key still verifies refresh tokens and recognises device cookies: the access key (which
        // other applications may hold to verify access tokens) must never be one of them.
        if let access, let refresh, let a = try? access.signingKey.thumbprint(),
            refresh.verificationKeys.contains(where: { $0 !== refresh.signingKey && (try? $0.thumbprint()) == a })
        {
            problems.append(.init(key: "tokens.refresh_verify_key_files", message: "must not hold the access key"))
        }
        guard problems.isEmpty, let access, let refresh else { throw ConfigError(problems: problems) }
        return TokenKeys(access: access, refresh: refresh)
    }
}
