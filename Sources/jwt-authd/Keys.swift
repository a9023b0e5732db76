import ArgumentParser
import AuthCore
import Foundation
import JOSE
import StrictJSON

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and inspect token keys.", subcommands: [Generate.self, JWKS.self])

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
            try KeyFile.createExclusively(at: out, contents: text)
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

/// Writing key files safely.
enum KeyFile {
    /// Creates `path` with mode 0600, failing if it exists (O_EXCL: no overwrite, no symlink following).
    static func createExclusively(at path: String, contents: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CommandError("cannot create \(path): \(reason)\(errno == EEXIST ? " (refusing to overwrite an existing key)" : "")")
        }
        defer { close(fd) }
        var bytes = Array(contents.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            unlink(path)
            throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A failure of a command that is not a usage error: printed as `Error: message`, without the usage text.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
