/// The one spelling of an email address that is stored and looked up.
public enum EmailAddress {
    /// Normalises an email for storage and lookup: trimmed, lower-cased.
    public static func normalize(_ email: String) -> String {
        String(email.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()).lowercased()
    }

    /// A light email syntax check (one @, a dot in the domain, no spaces, ≤ 254 bytes): delivery is not verified.
    public static func isPlausible(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else { return false }
        return true
    }
}
