import ArgumentParser
import AuthCore
import CryptoPrimitives
import FoundationEssentials
import Glibc
import JOSE
import ProcessManager
import StrictJSON

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and inspect token keys.", subcommands: [Generate.self, List.self, Rotate.self, JWKS.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the configured key sets (signing key first).")
        @OptionGroup var options: ConfigOptions

        func run() throws {
            let keys = try Keys.loadConfigured(options)
            for (type, set) in [("access", keys.access), ("refresh", keys.refresh)] {
                for (index, key) in set.verificationKeys.enumerated() {
                    print("\(type)  \(index == 0 ? "signs  " : "verifies")  \(key.algorithm.rawValue)  \(key.id ?? "(no kid)")")
                }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new signing key and print the configuration change that rotates to it.",
            discussion: """
                The current signing key keeps verifying: it moves to the verify-only list (a secret is exported to \
                --out's name + .previous.jwk for that). Apply the printed lines, send SIGHUP, and drop the previous key \
                after the token lifetime (tokens.access_ttl or tokens.refresh_ttl) has passed.
                """)
        @OptionGroup var options: ConfigOptions
        @Option(help: "access or refresh.") var type: String = "access"
        @Option(help: "HS256, EdDSA or ES256 for the new key.") var alg: String = "EdDSA"
        @Option(help: "The new key file (created with mode 0600; never overwritten).") var out: String

        func run() throws {
            guard type == "access" || type == "refresh" else { throw ValidationError("--type must be access or refresh") }
            guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw ValidationError("--alg must be HS256, EdDSA or ES256") }
            var sources = try ConfigLoading.sources(configPath: options.config, flags: [:])
            sources.requiresListen = false
            let config = try Config.load(sources: sources)
            let current = type == "access" ? config.tokens.accessKey : config.tokens.refreshKey
            let verifyFiles = type == "access" ? config.tokens.accessVerifyKeyFiles : config.tokens.refreshVerifyKeyFiles
            let new = try JWTKey.generate(algorithm)
            try SecretFile.createExclusively(at: out, contents: try new.privateJWK().text + "\n")
            var previous: String
            switch current {
            case .keyFile(let path):
                previous = path
            case .secret(let secret):
                previous = out + ".previous.jwk"
                let old = try JWTKey.hmac(secret: SecureBytes(secret.bytes))
                try SecretFile.createExclusively(at: previous, contents: try old.privateJWK().text + "\n")
            }
            print("wrote the new \(type) key \(new.id ?? "") (\(algorithm.rawValue)) to \(out)")
            print("set in the configuration, then send SIGHUP (or restart):")
            print("  tokens.\(type)_key_file = \"\(out)\"")
            print("  tokens.\(type)_verify_key_files = [\((verifyFiles + [previous]).map { "\"\($0)\"" }.joined(separator: ", "))]")
            if case .secret = current { print("  and remove tokens.\(type)_secret") }
            print("after \(type == "access" ? "tokens.access_ttl" : "tokens.refresh_ttl") has passed, remove \(previous) from the list")
        }
    }

    static func loadConfigured(_ options: ConfigOptions) throws -> TokenKeys {
        let loaded = Result { () throws(ConfigError) -> TokenKeys in
            var sources = try ConfigLoading.sources(configPath: options.config, flags: [:])
            sources.requiresListen = false
            return try TokenKeys.load(try Config.load(sources: sources).tokens, readFile: ConfigSources.readTextFile)
        }
        switch loaded {
        case .success(let keys): return keys
        case .failure(let error): ConfigLoading.fail(error)
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new random key to a file (mode 0600; an existing file is never overwritten).")

        @Option(help: "HS256, EdDSA or ES256.")
        var alg: String = "EdDSA"

        @Option(help: "The file to create.")
        var out: String

        @Option(help: "Key id (default: the RFC 7638 thumbprint for EdDSA/ES256, none for HS256).")
        var kid: String?

        @Option(help: "jwk (any algorithm) or pem (EdDSA, ES256).")
        var format: String = "jwk"

        func run() throws {
            guard let algorithm = JWSAlgorithm(rawValue: alg) else {
                throw ValidationError("--alg must be HS256, EdDSA or ES256")
            }
            guard format == "jwk" || (format == "pem" && algorithm != .hs256) else {
                throw ValidationError("--format must be jwk, or pem for EdDSA and ES256")
            }
            let key = try JWTKey.generate(algorithm, id: kid)
            let text: String
            if format == "pem" {
                text = try key.privatePEM()
            } else {
                text = try key.privateJWK().text + "\n"
            }
            try SecretFile.createExclusively(at: out, contents: text)
            let publicPart = try key.publicJWK().map { "public JWK: \($0.text)" } ?? "(HS256: no public part)"
            print("wrote \(algorithm.rawValue) key \(key.id ?? "(no kid)") to \(out) (mode 0600)\n\(publicPart)")
        }
    }

    struct JWKS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwks", abstract: "Print the JWKS document (public keys only) of key files.")

        @Argument(help: "Key files (JWK or PEM). HS256 keys have no public part and are left out.")
        var files: [String]

        func run() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one key file") }
            var published: [JSON] = []
            for file in files {
                if let jwk = try JWTKey.load(fileText: try ConfigSources.readTextFile(file)).publicJWK() {
                    published.append(jwk)
                }
            }
            print(JSON.object([("keys", .array(published))]).text)
        }
    }
}
