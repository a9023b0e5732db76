/// Same-site redirect targets: no open redirect through `return_to` or `callbackUrl`.
public enum RedirectTarget {
    /// `candidate` if it is a path on this site (`/…`, no `//` anywhere, no backslash, no control characters, no
    /// encoded slash or backslash that a browser or a proxy could turn into one); otherwise `fallback`.
    public static func sameSite(_ candidate: String?, fallback: String) -> String {
        guard let candidate, candidate.hasPrefix("/"), candidate.utf8.count <= 2048 else { return fallback }
        let lowered = candidate.lowercased()
        if candidate.contains("//") || candidate.contains("\\") || lowered.contains("%2f") || lowered.contains("%5c")
            || candidate.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F })
        {
            return fallback
        }
        return candidate
    }
}
