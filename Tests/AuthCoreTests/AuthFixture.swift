import AuthCore
import Foundation
import JOSE
import Logging
import MariaDB
import Passwords
import Synchronization
import TestSupport
import Testing

/// A clock the tests move by hand: nothing sleeps to wait for an expiry.
final class ManualClock: AuthClock {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Argon2id at the cheapest cost, counting the work done (unknown-email logins must cost one check too).
final class CountingHasher: PasswordHashing {
    let inner = try! Argon2Hasher(parameters: .testing)
    private let counts = Mutex((hashes: 0, checks: 0, dummies: 0))
    /// What the hashing queue answers: `false` plays a process whose queue is full.
    let queueOpen = Mutex(true)
    /// `true` plays a turn that never came: checks answer `.busy` without evaluating anything.
    let turnsRunOut = Mutex(false)
    /// Places taken and not given back.
    let placesTaken = Mutex(0)
    var hashes: Int { counts.withLock { $0.hashes } }
    var checks: Int { counts.withLock { $0.checks } }
    var dummies: Int { counts.withLock { $0.dummies } }

    func hash(_ password: String) throws(PasswordError) -> String {
        counts.withLock { $0.hashes += 1 }
        return try inner.hash(password)
    }

    func check(_ password: String, against stored: String) -> PasswordCheck {
        if turnsRunOut.withLock({ $0 }) { return .busy }
        counts.withLock { $0.checks += 1 }
        return inner.check(password, against: stored)
    }

    func checkAgainstDummy(_ password: String) -> PasswordCheck {
        if turnsRunOut.withLock({ $0 }) { return .busy }
        counts.withLock { $0.dummies += 1 }
        return inner.checkAgainstDummy(password)
    }

    func enterQueue() -> Bool {
        guard queueOpen.withLock({ $0 }) else { return false }
        placesTaken.withLock { $0 += 1 }
        return true
    }

    func leaveQueue() { placesTaken.withLock { $0 -= 1 } }
}

/// One migrated database, settings built from a real configuration, and Auth instances on their own connections.
final class AuthFixture: @unchecked Sendable {
    // @unchecked Sendable: immutable after init apart from the clock and hasher, which lock internally.
    let url: DatabaseURL
    let settings: AuthSettings
    /// What the settings were built from (to build others, as another host would).
    let config: Config
    let tokenKeys: TokenKeys
    let clock = ManualClock()
    let hasher = CountingHasher()
    let logs = LogCapture()

    init(env extra: [String: String] = [:], mfaKeys: MFAKeyRing? = nil) throws {
        url = try TestDatabase.create(prefix: "auth")
        let admin = try Connection(url: url)
        try Migrator(connection: admin).migrate()
        admin.close()
        var env = [
            "DATABASE_URL": "mariadb://root@localhost/x", "JWT_AUTHD_LISTEN": "127.0.0.1:9000",
            "JWT_ACCESS_SECRET": String(repeating: "a", count: 32), "JWT_REFRESH_SECRET": String(repeating: "r", count: 32),
        ]
        env.merge(extra) { $1 }
        config = try Config.load(sources: ConfigSources(environment: env))
        tokenKeys = try TokenKeys.load(config.tokens, readFile: { _ in "" })
        settings = AuthSettings(config: config, keys: tokenKeys, mfaKeys: mfaKeys)
    }

    deinit { TestDatabase.drop(url) }

    /// The services of one thread, on a new connection.
    func auth() throws -> AuthServices {
        let logger = Logger(label: "test", factory: { [logs] _ in logs })
        return AuthServices(
            settings: settings, database: Database(connection: try Connection(url: url), logger: logger),
            hasher: hasher, clock: clock, logger: logger)
    }

    func count(_ sql: String, _ values: [DatabaseValue] = []) throws -> Int {
        let connection = try Connection(url: url)
        defer { connection.close() }
        return Int(try connection.query(sql, values).first?.int("n") ?? -1)
    }

    /// The jti inside a refresh token.
    func jti(of refreshToken: String) throws -> String {
        try settings.refreshVerifier.verify(refreshToken, now: clock.now()).string("jti") ?? ""
    }

    static let client = ClientContext(ip: "203.0.113.7", userAgent: "tests")
}

extension AuthFixture {
    /// The plain-text part of the newest queued message to `recipient`, decoded as a mail reader would.
    func mailedText(to recipient: String) throws -> String {
        let connection = try Connection(url: url)
        defer { connection.close() }
        let row = try #require(
            try connection.query(
                "SELECT message FROM mail_outbox WHERE recipient = ? AND status = 'queued' ORDER BY created_at DESC, id DESC LIMIT 1",
                [.string(recipient)]
            ).first)
        let raw = String(decoding: try row.bytes("message"), as: UTF8.self)
        #expect(raw.contains("To: <\(recipient)>"))
        let boundary = try #require(raw.components(separatedBy: "boundary=\"").dropFirst().first?.components(separatedBy: "\"").first)
        let textPart = raw.components(separatedBy: "--\(boundary)")[1]
        let encoded = textPart.components(separatedBy: "\r\n\r\n")[1].replacingOccurrences(of: "\r\n", with: "")
        return String(decoding: try #require(Data(base64Encoded: encoded)), as: UTF8.self)
    }

    /// The token of the link to `page` (`https://site.example/auth/reset?token=`) in the newest message to `recipient`.
    func mailedToken(to recipient: String, page: String) throws -> String {
        let text = try mailedText(to: recipient)
        let url = try #require(text.split(separator: "\n").first { $0.hasPrefix(page) }, "\(text)")
        return String(url.dropFirst(page.count))
    }
}
