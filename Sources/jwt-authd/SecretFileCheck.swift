import AuthCore
import Glibc
import JOSE
import ProcessManager

/// Files that hold secrets must be readable by the service alone and changeable by nobody else: the signing key
/// files, verify-only keys that can sign (HS256, or a private key), every `NAME_FILE` / `name_file` secret, and a
/// configuration file that holds a secret inline.
enum SecretFileCheck {
    /// Every file that holds a secret, with the key that names it.
    static func files(config: Config, sources: ConfigSources) -> [(key: String, path: String)] {
        var files: [(key: String, path: String)] = []
        if case .keyFile(let path) = config.tokens.accessKey { files.append(("tokens.access_key_file", path)) }
        if case .keyFile(let path) = config.tokens.refreshKey { files.append(("tokens.refresh_key_file", path)) }
        for (key, paths) in [
            ("tokens.access_verify_key_files", config.tokens.accessVerifyKeyFiles),
            ("tokens.refresh_verify_key_files", config.tokens.refreshVerifyKeyFiles),
        ] {
            for path in paths where holdsASigningKey(path) { files.append((key, path)) }
        }
        for reference in config.mfa.keyReferences { files.append(("mfa.encryption_keys", reference.path)) }
        for key in ConfigKey.all where key.isSecret {
            if let path = sources.environment[key.env + "_FILE"] { files.append((key.name, path)) }
            if case .string(let path)? = sources.file[key.name + "_file"] { files.append((key.name, path)) }
        }
        if let path = sources.filePath, ConfigKey.all.contains(where: { $0.isSecret && sources.file[$0.name] != nil }) {
            files.append((path, path))
        }
        return files
    }

    /// Whether a key file holds a key that can sign (an HS256 secret or a private key); a public key may be read by
    /// anyone.
    private static func holdsASigningKey(_ path: String) -> Bool {
        guard let text = try? ConfigSources.readTextFile(path), let key = try? JWTKey.load(fileText: text) else {
            return false  // unreadable or not a key: the key loader says so
        }
        return key.canSign
    }

    /// What is wrong with the files: readable by every user, changeable by others than their owner, or owned by
    /// someone other than root, this process's user or the service's user (`--user`).
    static func problems(_ files: [(key: String, path: String)], serviceUser: String?) -> [ConfigError.Problem] {
        var owners: Set<UInt32> = [0, geteuid()]
        if let serviceUser, let uid = ProcessSetup.userID(serviceUser) { owners.insert(uid) }
        var problems: [ConfigError.Problem] = []
        var seen: Set<String> = []
        for (key, path) in files where seen.insert(path).inserted {
            guard let status = FileStatus(path: path) else { continue }  // missing: reported by whoever reads it
            let mode = "0" + String(status.permissions & 0o777, radix: 8)
            if status.permissions & 0o004 != 0 {
                problems.append(
                    .init(
                        key: key,
                        message: """
                            \(path) is readable by every user (mode \(mode)): chmod 600 (or 640 with the service's group)
                            """))
            } else if status.permissions & 0o022 != 0 {
                problems.append(
                    .init(
                        key: key,
                        message: """
                            \(path) can be changed by other users (mode \(mode)): chmod 600 (or 640 with the service's group)
                            """))
            }
            if !owners.contains(status.owner) {
                problems.append(
                    .init(
                        key: key,
                        message: """
                            \(path) belongs to uid \(status.owner), neither root nor the service's user: chown it (another \
                            owner can change or read it)
                            """))
            }
        }
        return problems
    }
}
