import AuthCore
import CryptoPrimitives
import Foundation
import JOSE
import MariaDB
import TestSupport
import Testing

/// #15 item 3: lockout as a weapon. A browser that signed in to an account before (OWASP's device cookie) is counted
/// on its own, so whoever exhausts the account's anonymous limit does not lock its owner out.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class DeviceCookieTests {
    let fixture: AuthFixture
    let auth: AuthServices

    init() throws {
        fixture = try AuthFixture(env: [
            "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "3", "JWT_THROTTLE_LOGIN_PER_DEVICE": "3", "JWT_THROTTLE_LOGIN_PER_IP": "1000",
        ])
        auth = try fixture.auth()
    }

    /// The owner's browser at home, with whatever device cookie it holds.
    func owner(_ devices: [String] = []) -> ClientContext { ClientContext(ip: "192.0.2.10", userAgent: "owner", devices: devices) }

    /// An attacker's request from yet another address.
    func attacker(_ n: Int, devices: [String] = []) -> ClientContext {
        ClientContext(ip: "198.51.100.\(n % 250 + 1)", userAgent: "attacker", devices: devices)
    }

    /// Signs in and gives back the device cookie the browser is handed.
    func signIn(_ email: String, on client: ClientContext) throws -> String {
        let pair = try auth.accounts.login(email: email, password: "correct horse", client: client)
        return try #require(try auth.accounts.deviceCookie(for: pair.user.id, client: client)).value
    }

    func lockOut(_ email: String, guesses: Int = 5) {
        for n in 0..<guesses {
            _ = try? auth.accounts.login(email: email, password: "wrong horse \(n)", client: attacker(n))
        }
    }

    @Test func theOwnersKnownBrowserSignsInWhileTheAccountIsLocked() throws {
        let user = try auth.accounts.createUser(email: "olga@example.com", password: "correct horse")
        let device = try signIn("olga@example.com", on: owner())
        let evaluatedBefore = fixture.hasher.checks + fixture.hasher.dummies
        lockOut("olga@example.com", guesses: 8)
        #expect(fixture.hasher.checks + fixture.hasher.dummies - evaluatedBefore == 3, "the anonymous limit holds")
        // Anyone without the cookie, the owner on a new browser included, waits out the window.
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "olga@example.com", password: "correct horse", client: self.owner())
        }
        // The owner's browser is known: counted on its own, it signs in, and gets a fresh entry.
        let pair = try auth.accounts.login(email: "olga@example.com", password: "correct horse", client: owner([device]))
        #expect(pair.user.id == user.id)
        let renewed = try #require(try auth.accounts.deviceCookie(for: pair.user.id, client: owner([device]))).value
        #expect(renewed != device && !renewed.contains("."), "one account, one entry: the old one is replaced")
        // The owner's success does not lift the lock for everyone else.
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "olga@example.com", password: "correct horse", client: self.attacker(99))
        }
        #expect(fixture.logs.all.contains { $0.contains("login_throttled") && $0.contains("login_account") })
        #expect(!fixture.logs.all.contains { $0.contains(device) || $0.contains(renewed) }, "device cookies are never logged")
    }

    @Test func aKnownDeviceHasItsOwnLimit() throws {
        _ = try auth.accounts.createUser(email: "pete@example.com", password: "correct horse")
        let device = try signIn("pete@example.com", on: owner())
        for n in 0..<3 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.login(email: "pete@example.com", password: "wrong \(n)", client: self.owner([device]))
            }
        }
        // Over the device's limit, this device waits, even with the right password...
        let evaluated = fixture.hasher.checks + fixture.hasher.dummies
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "pete@example.com", password: "correct horse", client: self.owner([device]))
        }
        #expect(fixture.hasher.checks + fixture.hasher.dummies == evaluated, "refused without hashing")
        #expect(try deviceRows() == 1)
        // ...while the device's failures did not count against the account: its anonymous limit is untouched.
        _ = try auth.accounts.login(email: "pete@example.com", password: "correct horse", client: attacker(7))
        // The window ends, and the device may try again.
        fixture.clock.advance(15 * 60 + 1)
        _ = try auth.accounts.login(email: "pete@example.com", password: "correct horse", client: owner([device]))
    }

    @Test func aKnownDevicesAttemptsDoNotCountOnTheAddress() throws {
        let fixture = try AuthFixture(env: ["JWT_THROTTLE_LOGIN_PER_IP": "2", "JWT_THROTTLE_LOGIN_PER_DEVICE": "5"])
        let auth = try fixture.auth()
        _ = try auth.accounts.createUser(email: "quinn@example.com", password: "correct horse")
        let pair = try auth.accounts.login(email: "quinn@example.com", password: "correct horse", client: owner())
        let device = try #require(try auth.accounts.deviceCookie(for: pair.user.id, client: owner())).value
        for n in 0..<4 {
            #expect(throws: AuthError.invalidCredentials) {
                try auth.accounts.login(email: "quinn@example.com", password: "wrong \(n)", client: self.owner([device]))
            }
        }
        // Four failures from this address, none of them counted on it: a stranger's login from it is not throttled.
        #expect(throws: AuthError.invalidCredentials) {
            try auth.accounts.login(email: "nobody@example.com", password: "wrong", client: self.owner())
        }
        _ = try auth.accounts.login(email: "quinn@example.com", password: "correct horse", client: owner([device]))
    }

    @Test func entriesOfOtherAccountsKeysAndTimesAreStrangers() throws {
        let olga = try auth.accounts.createUser(email: "olga@example.com", password: "correct horse")
        let mallory = try auth.accounts.createUser(email: "mallory@example.com", password: "correct horse")
        let devices = fixture.settings.devices
        let now = fixture.clock.now()
        let olgas = try #require(devices.issue(userID: olga.id, epoch: 0, keeping: [], now: now)).value
        let mallorys = try #require(devices.issue(userID: mallory.id, epoch: 0, keeping: [], now: now)).value
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now) != nil)
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [mallorys], now: now) == nil, "another account's entry")
        // A planted cookie beside the browser's own adds nothing, and hides nothing.
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: ["junk", mallorys, olgas], now: now) != nil)
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: ["junk", mallorys + "." + mallorys], now: now) == nil)
        // Any changed byte: nonce, issue time or MAC.
        let bytes = try #require(Base64URL.decode(olgas))
        for index in [0, 17, 23, 40, 55] {
            var changed = bytes
            changed[index] ^= 0x01
            #expect(devices.recognize(userID: olga.id, epoch: 0, in: [Base64URL.encode(changed)], now: now) == nil, "byte \(index)")
        }
        for malformed in ["", ".", String(olgas.dropLast()), olgas + "A", olgas.replacingOccurrences(of: "-", with: "+")]
        where malformed != olgas {
            #expect(devices.recognize(userID: olga.id, epoch: 0, in: [malformed], now: now) == nil, "\(malformed)")
        }
        // Honoured for its lifetime (a year by default), not after; never from the future.
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now.addingTimeInterval(364 * 86_400)) != nil)
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now.addingTimeInterval(366 * 86_400)) == nil)
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now.addingTimeInterval(-3600)) == nil)
        // Another refresh secret (another site) knows none of this site's devices.
        let other = try AuthFixture(env: ["JWT_REFRESH_SECRET": String(repeating: "s", count: 32)])
        #expect(other.settings.devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now) == nil)
        // The same secret on another host does.
        let sameSecret = try AuthFixture()
        #expect(sameSecret.settings.devices.recognize(userID: olga.id, epoch: 0, in: [olgas], now: now) != nil)
    }

    @Test func aSharedBrowserRemembersItsLastFiveAccounts() throws {
        var cookie: [String] = []
        var users: [User] = []
        for n in 0..<6 {
            users.append(try auth.accounts.createUser(email: "member\(n)@example.com", password: "correct horse"))
            cookie = [try signIn("member\(n)@example.com", on: owner(cookie))]
        }
        let devices = fixture.settings.devices
        let now = fixture.clock.now()
        #expect(cookie[0].split(separator: ".").count == DeviceCookies.maxEntries)
        #expect(devices.recognize(userID: users[0].id, epoch: 0, in: cookie, now: now) == nil, "the least recent is dropped")
        for user in users.dropFirst() { #expect(devices.recognize(userID: user.id, epoch: 0, in: cookie, now: now) != nil) }
        // Signing in again moves the account to the front without a second entry.
        let again = try signIn("member3@example.com", on: owner(cookie))
        #expect(again.split(separator: ".").count == DeviceCookies.maxEntries)
        #expect(Set(again.split(separator: ".").dropFirst()).isSubset(of: Set(cookie[0].split(separator: "."))))
        for user in users.dropFirst() { #expect(devices.recognize(userID: user.id, epoch: 0, in: [again], now: now) != nil) }
    }

    /// A sibling subdomain can plant `auth_device` beside the browser's own (more specific path: sent first). Each
    /// value is read on its own, so ten well-formed but foreign entries hide nothing, and the next cookie this site
    /// sets keeps none of them.
    @Test func aPlantedCookieNeitherHidesNorJoinsTheBrowsersEntries() throws {
        let olga = try auth.accounts.createUser(email: "olga@example.com", password: "correct horse")
        let devices = fixture.settings.devices
        let now = fixture.clock.now()
        let olgas = try #require(devices.issue(userID: olga.id, epoch: 0, keeping: [], now: now)).value
        let junk = (0..<10).map { _ in Base64URL.encode(Random.bytes(72)) }.joined(separator: ".")
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [junk, junk, olgas], now: now) != nil)
        let reissued = try #require(devices.issue(userID: "someone", epoch: 0, keeping: [junk, olgas], now: now)).value
        #expect(reissued.split(separator: ".").count == 2, "the new entry and olga's: none of the foreign ones")
        #expect(devices.recognize(userID: olga.id, epoch: 0, in: [reissued], now: now) != nil)
    }

    /// Every password set raises the account's epoch: devices known before are strangers after it (whoever collected
    /// entries while they knew the old password gets no guesses at the new one), and the browser that changed it is
    /// marked again.
    @Test func aPasswordChangeForgetsTheAccountsDevices() throws {
        let user = try auth.accounts.createUser(email: "pete@example.com", password: "correct horse")
        let old = try signIn("pete@example.com", on: owner())
        let session = try auth.accounts.login(email: "pete@example.com", password: "correct horse", client: owner([old]))
        try auth.accounts.changePassword(
            userID: user.id, current: "correct horse", new: "battery staple", keepingSession: session.sessionID)
        let renewed = try #require(try auth.accounts.deviceCookie(for: user.id, client: owner([old]))).value
        #expect(renewed.split(separator: ".").count == 2, "the old entry is kept as a stranger's, not recognised")
        lockOut("pete@example.com")
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "pete@example.com", password: "battery staple", client: self.owner([old]))
        }
        _ = try auth.accounts.login(email: "pete@example.com", password: "battery staple", client: owner([renewed]))
        // An admin reset raises it too.
        try auth.accounts.setPassword(userID: user.id, "another one entirely")
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "pete@example.com", password: "another one entirely", client: self.owner([renewed]))
        }
    }

    @Test func offMeansNoCookieAndNoKnownDevice() throws {
        let fixture = try AuthFixture(env: ["JWT_COOKIE_DEVICE_LIFETIME": "0s"])
        let auth = try fixture.auth()
        let user = try auth.accounts.createUser(email: "rita@example.com", password: "correct horse")
        #expect(try auth.accounts.deviceCookie(for: user.id, client: owner()) == nil)
        let issued = try #require(self.fixture.settings.devices.issue(userID: user.id, epoch: 0, keeping: [], now: fixture.clock.now()))
        #expect(fixture.settings.devices.recognize(userID: user.id, epoch: 0, in: [issued.value], now: fixture.clock.now()) == nil)
    }

    func deviceRows() throws -> Int {
        try fixture.count("SELECT COUNT(*) AS n FROM auth_throttle WHERE scope = 'login_device' AND failures >= 3")
    }
}

/// The device cookie's key: derived from the refresh key's secret, so nothing new to configure or share.
@Suite struct DeviceCookieKeyTests {
    @Test func aRotatedRefreshKeyStillRecognisesWhatItSigned() throws {
        let old = try JWTKey.hmac(secret: SecureBytes(Random.bytes(32)))
        let new = try JWTKey.hmac(secret: SecureBytes(Random.bytes(32)))
        let now = Date()
        let before = DeviceCookies(refreshKeys: try KeySet(signingKey: old), lifetime: .seconds(86_400))
        let after = DeviceCookies(refreshKeys: try KeySet(signingKey: new, verifyOnly: [old]), lifetime: .seconds(86_400))
        let dropped = DeviceCookies(refreshKeys: try KeySet(signingKey: new), lifetime: .seconds(86_400))
        let entry = try #require(before.issue(userID: "u1", epoch: 0, keeping: [], now: now)).value
        #expect(after.recognize(userID: "u1", epoch: 0, in: [entry], now: now) != nil)
        #expect(dropped.recognize(userID: "u1", epoch: 0, in: [entry], now: now) == nil)
    }

    @Test func onlySecretsDeriveKeys() throws {
        let ed25519 = try JWTKey.generate(.edDSA)
        let derived = try #require(ed25519.derivedSecret(purpose: "p"))
        #expect(derived.count == 32)
        #expect(ed25519.derivedSecret(purpose: "p")?.bytes == derived.bytes, "the same wherever the key is loaded")
        #expect(ed25519.derivedSecret(purpose: "q")?.bytes != derived.bytes, "another purpose, another key")
        let publicJWK = try #require(try ed25519.publicJWK())
        let publicOnly = try JWTKey.jwk(publicJWK)
        #expect(publicOnly.derivedSecret(purpose: "p") == nil, "a public key is no secret")
        let es256 = try JWTKey.generate(.es256)
        #expect(es256.derivedSecret(purpose: "p") != nil)
        let es256Public = try #require(try es256.publicJWK())
        #expect(try JWTKey.jwk(es256Public).derivedSecret(purpose: "p") == nil)
        // A verify-only public key file adds no key: its holder (anyone) cannot sign entries this site honours.
        let previous = try JWTKey.generate(.edDSA)
        let previousJWK = try #require(try previous.publicJWK())
        let devices = DeviceCookies(
            refreshKeys: try KeySet(signingKey: ed25519, verifyOnly: [try JWTKey.jwk(previousJWK)]), lifetime: .seconds(60))
        #expect(devices.isEnabled)
        let signedByPrevious = DeviceCookies(refreshKeys: try KeySet(signingKey: previous), lifetime: .seconds(60))
        let entry = try #require(signedByPrevious.issue(userID: "u", epoch: 0, keeping: [], now: Date())).value
        #expect(devices.recognize(userID: "u", epoch: 0, in: [entry], now: Date()) == nil)
    }
}
