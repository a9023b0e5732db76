import AuthCore
import MariaDB
import TestSupport
import Testing

/// #15 item 1: other spellings of one address share its login limit, and reach its account only when they are its
/// one spelling.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class EmailSpellingThrottleTests {
    let fixture: AuthFixture
    let auth: AuthServices

    init() throws {
        fixture = try AuthFixture(env: ["JWT_THROTTLE_LOGIN_PER_ACCOUNT": "10", "JWT_THROTTLE_LOGIN_PER_IP": "1000"])
        auth = try fixture.auth()
    }

    /// Each attempt from another address, so that only the account's limit can stop them.
    func client(_ n: Int) -> ClientContext { ClientContext(ip: "198.51.100.\(n % 250 + 1)", userAgent: "tests") }

    @Test func noSpellingGetsMoreGuessesThanTheLimit() throws {
        _ = try auth.accounts.createUser(email: "john.doe@example.com", password: "correct horse")
        let spellings = johnSpellings.filter { EmailAddress.isPlausible(EmailAddress.normalize($0)) }
        #expect(spellings.count >= 12)
        let checksBefore = fixture.hasher.checks + fixture.hasher.dummies
        var attempts = 0
        for round in 0..<3 {
            for spelling in spellings {
                attempts += 1
                #expect(throws: (any Error).self) {
                    try self.auth.accounts.login(email: spelling, password: "wrong horse \(round)", client: self.client(attempts))
                }
            }
        }
        let evaluated = fixture.hasher.checks + fixture.hasher.dummies - checksBefore
        #expect(evaluated == 10, "\(attempts) guesses in many spellings: \(evaluated) evaluated, the limit is 10")
        // Over the limit, the right password is refused in every spelling, the account's own included.
        for (n, spelling) in (spellings + ["john.doe@example.com"]).enumerated() {
            #expect(throws: AuthError.throttled(retryAfter: 0)) {
                try self.auth.accounts.login(email: spelling, password: "correct horse", client: self.client(200 + n))
            }
        }
    }

    @Test func onlyTheOneSpellingReachesTheAccount() throws {
        let user = try auth.accounts.createUser(email: "Zoë.Ｗ@Example.com", password: "correct horse")
        #expect(user.email == "zoë.w@example.com")
        // Case, fullwidth and decomposed accents are the same address; a dropped accent is another one.
        for (n, same) in ["ZOË.W@EXAMPLE.COM", "zoe\u{0308}.w@example.com", "ｚｏë.w@example.com"].enumerated() {
            #expect(try auth.accounts.login(email: same, password: "correct horse", client: client(n)).user.id == user.id)
        }
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "zoe.w@example.com", password: "correct horse", client: self.client(9))
        }
        // Invisible characters are refused before anything is counted or checked.
        let checks = fixture.hasher.checks + fixture.hasher.dummies
        #expect(throws: AuthError(.invalidInput, "")) {
            try self.auth.accounts.login(email: "zo\u{AD}ë.w@example.com", password: "correct horse", client: self.client(10))
        }
        #expect(fixture.hasher.checks + fixture.hasher.dummies == checks)
        #expect(throws: AuthError(.invalidInput, "")) {
            try self.auth.accounts.createUser(email: "zoë\u{200B}.w@example.com", password: "correct horse")
        }
        // A spelling that differs only by an accent may be another account of its own.
        let other = try auth.accounts.createUser(email: "zoe.w@example.com", password: "other horse")
        #expect(other.id != user.id)
        #expect(try auth.accounts.user(email: "ZOË.W@example.com")?.id == user.id)
    }
}
