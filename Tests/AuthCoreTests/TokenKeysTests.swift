import AuthCore
import JOSE
import StrictJSON
import Testing

@Suite struct TokenKeysTests {
    struct Missing: Error {}

    private func tokens(_ access: Config.KeySource, _ refresh: Config.KeySource, verify: [String] = []) -> Config.Tokens {
        var tokens = Config.Tokens(accessKey: access, refreshKey: refresh)
        tokens.accessVerifyKeyFiles = verify
        return tokens
    }

    @Test func secretsBecomeHS256KeySets() throws {
        let keys = try TokenKeys.load(
            tokens(
                .secret(Secret(String(repeating: "a", count: 32))),
                .secret(Secret(String(repeating: "b", count: 32)))),
            readFile: { _ in throw Missing() })
        #expect(keys.access.signingKey.algorithm == .hs256)
        #expect(keys.refresh.signingKey.algorithm == .hs256)
    }

    @Test func keyFilesAndRotationKeysAreLoaded() throws {
        let current = try JWTKey.generate(.edDSA)
        let previous = try JWTKey.generate(.edDSA)
        let refresh = try JWTKey.generate(.hs256, id: "r1")
        let files = [
            "/k/current.jwk": try current.privateJWK().text, "/k/previous.jwk": try previous.publicJWK()!.text,
            "/k/refresh.jwk": try refresh.privateJWK().text,
        ]
        let keys = try TokenKeys.load(
            tokens(.keyFile("/k/current.jwk"), .keyFile("/k/refresh.jwk"), verify: ["/k/previous.jwk"]),
            readFile: { path in
                guard let text = files[path] else { throw Missing() }
                return text
            })
        #expect(keys.access.signingKey.id == current.id)
        #expect(keys.access.verificationKeys.map(\.id) == [current.id, previous.id])
        #expect(keys.refresh.signingKey.id == "r1")
    }

    @Test func badFilesNameTheirKey() throws {
        let secret = Config.KeySource.secret(Secret(String(repeating: "a", count: 32)))
        do {
            _ = try TokenKeys.load(
                tokens(.keyFile("/missing.jwk"), secret, verify: ["/bad.jwk"]),
                readFile: { path in
                    if path == "/bad.jwk" { return #"{"kty":"oct","k":"c2hvcnQ"}"# }
                    throw Missing()
                })
            Issue.record("loaded bad keys")
        } catch {
            #expect(error.mentions("tokens.access_key_file"))
            #expect(error.mentions("tokens.access_verify_key_files"))
        }
    }

    /// A previous refresh key verifies refresh tokens and recognises device cookies: the access key, which other
    /// applications may hold, is refused there (whoever holds it could make device cookies).
    @Test func theAccessKeyIsNoPreviousRefreshKey() throws {
        let access = try JWTKey.generate(.hs256)
        let previous = try JWTKey.generate(.hs256)
        let files = ["/access": try access.privateJWK().text, "/previous": try previous.privateJWK().text]
        var config = tokens(.keyFile("/access"), .secret(Secret(String(repeating: "r", count: 32))))
        config.refreshVerifyKeyFiles = ["/previous", "/access"]
        do {
            _ = try TokenKeys.load(config, readFile: { files[$0] ?? "" })
            Issue.record("the access key was taken as a previous refresh key")
        } catch {
            #expect(error.mentions("tokens.refresh_verify_key_files"))
        }
        config.refreshVerifyKeyFiles = ["/previous"]
        #expect(try TokenKeys.load(config, readFile: { files[$0] ?? "" }).refresh.verificationKeys.count == 2)
    }

    @Test func theSameKeyFileForBothTypesIsRefused() throws {
        let key = try JWTKey.generate(.es256)
        let text = try key.privateJWK().text
        #expect(throws: ConfigError.self) {
            try TokenKeys.load(tokens(.keyFile("/a"), .keyFile("/b")), readFile: { _ in text })
        }
    }
}
