/// The one spelling of an email address that is stored and looked up, and the skeleton its login throttle counts.
///
/// Which spellings are one account (docs/security.md, *Email spellings*): an address is trimmed, mapped to Unicode
/// NFKC (fullwidth letters, ligatures and the like become their plain forms) and lower-cased with Unicode's full
/// mapping, then stored and compared byte for byte (`users.email` is `utf8mb4_bin`). Accents stay: `jose@` and `josé@`
/// are two addresses. Addresses with invisible or unassigned characters (soft hyphen, zero-width characters, bidi
/// controls, control and private-use characters) are refused, not stripped, at registration and at login.
///
/// The throttle is keyed more coarsely, on ``skeleton(_:)``: NFKD with combining marks and default-ignorable
/// characters removed and case folded, so that every spelling the earlier `utf8mb4_unicode_ci` comparison equated
/// shares one limit, whether or not it names an account today.
public enum EmailAddress {
    /// Normalises an email for storage and lookup: trimmed, NFKC, lower-cased.
    public static func normalize(_ email: String) -> String {
        let trimmed = String(email.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        if trimmed.utf8.allSatisfy({ $0 < 0x80 }) { return trimmed.lowercased() }
        var mapped = String.UnicodeScalarView()
        for scalar in trimmed.unicodeScalars { appendDecomposition(of: scalar, to: &mapped) }
        // NFC of each scalar's NFKD is NFKC. `_nfcCodeUnits` is the standard library's own NFC (public but
        // underscored, as swift-url uses it: the workers load neither Foundation nor ICU).
        return String(decoding: String(mapped).lowercased()._nfcCodeUnits, as: UTF8.self)
    }

    /// What the login throttle counts a (normalised) address as: NFKD, combining marks and default-ignorable
    /// characters removed, case folded. Many addresses share one skeleton; that is its purpose.
    public static func skeleton(_ email: String) -> String {
        let normalized = normalize(email)
        if normalized.utf8.allSatisfy({ $0 < 0x80 }) { return normalized }
        var folded = String.UnicodeScalarView()
        for scalar in normalized.unicodeScalars { appendFold(of: scalar, to: &folded) }
        var decomposed = String.UnicodeScalarView()
        for scalar in folded { appendDecomposition(of: scalar, to: &decomposed) }
        return String(String.UnicodeScalarView(decomposed.filter { !isMarkOrIgnorable($0) }))
    }

    /// A light email syntax check of a normalised address (one @, a dot in the domain, ≤ 254 bytes, no spaces, no
    /// invisible, control, private-use or unassigned characters): delivery is not verified.
    public static func isPlausible(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.unicodeScalars.contains(where: isRefused)
        else { return false }
        return true
    }

    /// Characters no address may hold: white space, default-ignorable (soft hyphen, zero-width, bidi controls,
    /// variation selectors), control, format, private-use, surrogate, unassigned and separator characters.
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value < 0x21 || scalar.value == 0x7F }
        let properties = scalar.properties
        if properties.isWhitespace || properties.isDefaultIgnorableCodePoint { return true }
        switch properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return true
        default:
            return false
        }
    }

    /// Combining marks and default-ignorable characters, and two the old collation ignored besides: the Arabic
    /// tatweel (U+0640, which NFKD leaves of the presentation forms with marks), its tail fragment and U+06DE.
    private static func isMarkOrIgnorable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return false }
        if scalar.value == 0x640 || scalar.value == 0x6DE || scalar.value == 0xFE73 { return true }
        let properties = scalar.properties
        if properties.isDefaultIgnorableCodePoint { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Full case folding where it differs from the lower-case mapping ``normalize(_:)`` already applied (Unicode's
    /// CaseFolding.txt: ß and ẞ fold to ss, final sigma to sigma, the Cyrillic variants U+1C80…U+1C88 to their plain
    /// letters), and what the old collation took for a letter or digit without any decomposition saying so: the
    /// combining Latin letters U+0363…U+036F, and every script's digits (a sweep against MariaDB's own
    /// `utf8mb4_unicode_ci` weights over the basic plane checks this list: EmailAddressTests).
    private static func appendFold(of scalar: Unicode.Scalar, to view: inout String.UnicodeScalarView) {
        switch scalar.value {
        case 0x00...0x7F: view.append(scalar)
        case 0xDF, 0x1E9E: view.append(contentsOf: "ss".unicodeScalars)
        case 0x3C2: view.append("\u{3C3}")
        case 0x363...0x36F: view.append(Array("aeioucdhmrtvx".unicodeScalars)[Int(scalar.value - 0x363)])
        // Bengali currency numerators one to four, Tibetan half digits one to nine and zero: digits to the collation.
        case 0x9F4...0x9F7: view.append(Unicode.Scalar(0x31 + scalar.value - 0x9F4) ?? scalar)
        case 0xF2A...0xF32: view.append(Unicode.Scalar(0x31 + scalar.value - 0xF2A) ?? scalar)
        case 0xF33: view.append("0")
        case 0x1C80...0x1C88:
            let plain: [Unicode.Scalar] = ["\u{432}", "\u{434}", "\u{43E}", "\u{441}", "\u{442}", "\u{442}", "\u{44A}", "\u{463}", "\u{A64B}"]
            view.append(plain[Int(scalar.value - 0x1C80)])
        default:
            if let value = scalar.properties.numericValue, value >= 0, value <= 9, value == value.rounded(),
                let digit = Unicode.Scalar(0x30 + UInt32(value))
            {
                view.append(digit)
            } else {
                view.append(scalar)
            }
        }
    }

    /// Appends the scalar's full NFKD decomposition (a Hangul syllable stays whole: NFC composes it again, and the
    /// skeleton keeps it).
    private static func appendDecomposition(of scalar: Unicode.Scalar, to view: inout String.UnicodeScalarView) {
        if let decomposition = decompositions[scalar.value] {
            view.append(contentsOf: decomposition)
        } else {
            view.append(scalar)
        }
    }

    /// The generated tables parsed once per process.
    static let decompositions: [UInt32: [Unicode.Scalar]] = {
        var map: [UInt32: [Unicode.Scalar]] = [:]
        for token in (decompositionTable1 + " " + decompositionTable2).split(separator: " ") {
            if let equals = token.firstIndex(of: "=") {
                guard let source = UInt32(token[..<equals], radix: 16) else { continue }
                map[source] = token[token.index(after: equals)...].split(separator: ".").compactMap {
                    UInt32($0, radix: 16).flatMap(Unicode.Scalar.init)
                }
            } else {
                let numbers = token.split(separator: ":").compactMap { UInt32($0, radix: 16) }
                guard numbers.count >= 2 else { continue }
                for offset in 0..<(numbers.count > 2 ? numbers[2] : 1) {
                    if let target = Unicode.Scalar(numbers[1] + offset) { map[numbers[0] + offset] = [target] }
                }
            }
        }
        return map
    }()
}
