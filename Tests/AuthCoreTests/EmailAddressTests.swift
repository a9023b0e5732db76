import AuthCore
import MariaDB
import TestSupport
import Testing

/// Spellings of `john.doe@example.com` that the old `utf8mb4_unicode_ci` comparison took for the same address.
let johnSpellings = [
    "JOHN.DOE@EXAMPLE.COM", "jöhn.doe@example.com", "jo\u{0308}hn.doe@example.com", "ｊｏｈｎ.doe@example.com",
    "jo\u{AD}hn.doe@example.com", "jo\u{200B}hn.doe@example.com", "john.doe@ex\u{0301}ample.com",
    "ｊōhn.doe@example.com", "john.doe@examplｅ.com", "ⓙohn.doe@example.com", "\u{1D423}ohn.doe@example.com",
    "john.doe@example.com\u{FE0F}", "jOhN.dOe@ExAmPlE.cOm", "\u{01F0}ohn.doe@example.com", "john.do\u{00E9}@example.com",
    "john\u{2024}doe@example.com", "ＪＯＨＮ．ＤＯＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
]

@Suite struct EmailAddressTests {
    @Test func theStoredSpellingIsNFKCLowerCasedAndKeepsAccents() {
        #expect(EmailAddress.normalize("  Alice@Example.COM \t") == "alice@example.com")
        #expect(EmailAddress.normalize("ｊｏｈｎ@ＥＸＡＭＰＬＥ．com") == "john@example.com")
        // A decomposed accent is composed (NFC), a precomposed one kept: both spellings are one address.
        #expect(EmailAddress.normalize("Jose\u{0301}@example.com") == "jos\u{00E9}@example.com")
        #expect(
            EmailAddress.normalize("JOS\u{00C9}@example.com").unicodeScalars.map(\.value) == "jos\u{00E9}@example.com".unicodeScalars.map(\.value))
        // An accent is not dropped: josé and jose are two addresses.
        #expect(EmailAddress.normalize("josé@example.com") != EmailAddress.normalize("jose@example.com"))
        #expect(EmailAddress.normalize("\u{FB01}le@example.com") == "file@example.com")  // the fi ligature
        #expect(EmailAddress.normalize("\u{2460}@example.com") == "1@example.com")
        #expect(EmailAddress.normalize("한국@example.com") == "한국@example.com")  // Hangul stays composed
    }

    @Test func normalisingIsIdempotentAcrossTheBasicPlane() {
        var changed: [UInt32] = []
        for value in UInt32(0x20)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let once = EmailAddress.normalize("a\(scalar)b@example.com")
            if EmailAddress.normalize(once) != once { changed.append(value) }
            if EmailAddress.skeleton(once) != EmailAddress.skeleton("a\(scalar)b@example.com") { changed.append(value) }
        }
        #expect(changed.isEmpty, "not idempotent for \(changed.prefix(10).map { String($0, radix: 16) })")
    }

    @Test func everySpellingOfOneAddressHasOneSkeleton() {
        let expected = "john.doe@example.com"
        for spelling in johnSpellings where !spelling.contains("\u{2024}") {
            #expect(EmailAddress.skeleton(spelling) == expected, "\(spelling.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(EmailAddress.skeleton("STRAẞE@example.com") == EmailAddress.skeleton("strasse@example.com"))
        #expect(EmailAddress.skeleton("straße@example.com") == "strasse@example.com")
        #expect(EmailAddress.skeleton("ΣΟΦΟΣ@example.com") == EmailAddress.skeleton("σοφος@example.com"))
        #expect(EmailAddress.skeleton("σοφoς@example.com") == EmailAddress.skeleton("σοφoσ@example.com"))
        #expect(EmailAddress.skeleton("jane@example.com") != EmailAddress.skeleton("john@example.com"))
    }

    @Test func invisibleControlAndUnassignedCharactersAreRefused() {
        for refused in [
            "jo\u{AD}hn@example.com", "jo\u{200B}hn@example.com", "jo\u{200D}hn@example.com", "john@exa\u{202E}mple.com",
            "john@example.com\u{FE0F}", "jo\u{0}hn@example.com", "jo\u{7F}hn@example.com", "jo\u{E000}hn@example.com",
            "jo\u{0378}hn@example.com", "jo\u{2028}hn@example.com", "jo\u{3000}hn@example.com", "jo\u{1D173}hn@example.com",
            "jo hn@example.com", "jo\u{85}hn@example.com", "\u{FEFF}john@example.com",
        ] {
            #expect(!EmailAddress.isPlausible(EmailAddress.normalize(refused)), "\(refused.unicodeScalars.map(\.value))")
        }
        for accepted in ["josé@example.com", "пользователь@пример.рф", "用户@例子.中国", "o'brien+tag@example.co.uk"] {
            #expect(EmailAddress.isPlausible(EmailAddress.normalize(accepted)), "\(accepted)")
        }
    }
}

/// The old comparison itself is the oracle: every spelling it equates with the address must share its skeleton.
@Suite(.enabled(if: TestDatabase.isEnabled)) struct EmailSkeletonAgainstOldCollationTests {
    @Test func everySpellingTheOldCollationEquatedSharesTheSkeleton() throws {
        let connection = try Connection(url: TestDatabase.url(socket: try #require(TestDatabase.socket), database: "mysql"))
        let canonical = "john.doe@example.com"
        var equated = 0
        for spelling in johnSpellings {
            let rows = try connection.query(
                "SELECT CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_unicode_ci = ? AS same", [.string(spelling), .string(canonical)])
            guard try rows.first?.int("same") == 1 else { continue }
            equated += 1
            #expect(EmailAddress.skeleton(spelling) == canonical, "\(spelling.unicodeScalars.map(\.value))")
        }
        #expect(equated >= 12, "the corpus should hold spellings the old collation equated")
    }

    /// Each character the old collation equates with an ASCII letter or digit (at its primary strength) has that
    /// letter as its skeleton, and each it ignores is refused or left out: a sweep over the basic plane.
    @Test func everyCharacterTheOldCollationFoldsToALetterSkeletonsToIt() throws {
        let connection = try Connection(url: TestDatabase.url(socket: try #require(TestDatabase.socket), database: "mysql"))
        func weight(_ text: String) throws -> String {
            let rows = try connection.query(
                "SELECT HEX(WEIGHT_STRING(CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_unicode_ci)) AS w", [.string(text)])
            return try rows.first?.optionalString("w") ?? ""
        }
        var ascii: [String: String] = [:]
        for scalar in "abcdefghijklmnopqrstuvwxyz0123456789".unicodeScalars { ascii[try weight(String(scalar))] = String(scalar) }
        var misses: [String] = []
        for value in UInt32(0x80)...0xFFFF {
            guard let scalar = Unicode.Scalar(value), scalar.properties.generalCategory != .unassigned else { continue }
            let scalarWeight = try weight(String(scalar))
            // A character the collation ignores: refused, or dropped from the skeleton.
            if scalarWeight.isEmpty && EmailAddress.isPlausible(EmailAddress.normalize("a\(scalar)b@x.y"))
                && EmailAddress.skeleton("a\(scalar)b@x.y") != "ab@x.y"
            {
                misses.append(String(value, radix: 16))
            }
            guard let letter = ascii[scalarWeight] else { continue }
            let skeleton = EmailAddress.skeleton("\(scalar)@x.y")
            if skeleton != "\(letter)@x.y" && EmailAddress.isPlausible(EmailAddress.normalize("\(scalar)@x.y")) {
                misses.append(String(value, radix: 16))
            }
        }
        #expect(misses.isEmpty, "characters the old collation equated with a letter but the skeleton keeps apart: \(misses)")
    }
}
