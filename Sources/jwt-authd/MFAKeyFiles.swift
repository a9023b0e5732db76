import AuthCore
import CryptoPrimitives
import FoundationEssentials

/// `mfa.encryption_keys`: each file holds 32 random bytes in base64 (`openssl rand -base64 32`), private to the
/// service (checked with the other secret files). Read once at start; a wrong file stops the start naming it.
enum MFAKeyFiles {
    static let key = "mfa.encryption_keys"

    /// The key ring, or `nil` when no key is configured.
    static func load(_ references: [MFAKeyReference]) throws(ConfigError) -> MFAKeyRing? {
        guard !references.isEmpty else { return nil }
        var problems: [ConfigError.Problem] = []
        var keys: [MFAKeyRing.Key] = []
        for reference in references {
            if keys.contains(where: { $0.id == reference.id }) {
                problems.append(.init(key: key, message: "the id \(reference.id) is given twice"))
                continue
            }
            guard let text = try? ConfigSources.readTextFile(reference.path) else {
                problems.append(.init(key: key, message: "\(reference.path) (key \(reference.id)) cannot be read"))
                continue
            }
            let trimmed = String(text.unicodeScalars.filter { !" \t\r\n".unicodeScalars.contains($0) })
            guard let data = Data(base64Encoded: trimmed), data.count == 32 else {
                problems.append(
                    .init(
                        key: key,
                        message: "\(reference.path) (key \(reference.id)) must hold 32 random bytes in base64: `openssl rand -base64 32`"))
                continue
            }
            keys.append(MFAKeyRing.Key(id: reference.id, secret: SecureBytes(Array(data))))
        }
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        return MFAKeyRing(keys: keys)
    }
}
