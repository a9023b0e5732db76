import CryptoPrimitives
import Foundation
import JOSE
import Logging
import MariaDB
import StrictJSON
import TestSupport
import Testing

@testable import AuthCore

/// #18: passkeys on sessions against a real MariaDB, with a software authenticator: registration, passwordless
/// sign-in, the second step of a password sign-in, reauthentication, single-use challenges, counters, decoys.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class PasskeyTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = ClientContext(ip: "203.0.113.9", userAgent: "tests")
    static let origin = "https://example.com"

    init() throws {
        fixture = try AuthFixture(
            env: [
                "JWT_AUTHD_MAIL_FROM": "Site <noreply@example.com>", "JWT_PASSKEYS_RP_ID": "example.com",
                "JWT_PASSKEYS_ORIGINS": Self.origin,
            ],
            mfaKeys: MFAKeyRing(keys: [MFAKeyRing.Key(id: "k1", secret: SecureBytes(randomCount: 32))]))
        auth = try fixture.auth()
    }

    /// The challenge of options (base64url in JSON).
    func challenge(_ options: JSON) throws -> [UInt8] { try #require(options["challenge"]?.stringValue.flatMap(Base64URL.decode)) }

    /// A user signed in with the password, and a passkey registered on that session.
    func registered(_ email: String, flags: UInt8 = SoftAuthenticator.up | SoftAuthenticator.uv) throws
        -> (User, TokenPair, SoftAuthenticator, RegisteredPasskey)
    {
        let user = try auth.accounts.createUser(email: email, password: "correct horse")
        let pair = try auth.accounts.login(email: email, password: "correct horse", client: client)
        let options = try auth.accounts.passkeyRegistrationOptions(userID: user.id, sessionID: pair.sessionID)
        let authenticator = try SoftAuthenticator()
        let registration = try authenticator.registration(origin: Self.origin, challenge: try challenge(options), flags: flags)
        let passkey = try auth.accounts.registerPasskey(userID: user.id, sessionID: pair.sessionID, response: registration.json, name: " laptop ")
        return (user, pair, authenticator, passkey)
    }

    func handle(of userID: String) throws -> [UInt8] { try #require(try PasskeyStore(database: auth.database).handle(userID: userID)) }

    @Test func aRegisteredPasskeySignsInWithoutAPassword() throws {
        let (user, pair, authenticator, registered) = try registered("ann@example.com")
        #expect(registered.passkey.name == "laptop" && !registered.passkey.backupEligible && registered.passkey.userVerified)
        #expect(registered.recoveryCodes?.count == 10, "the first factor comes with recovery codes")
        var claims = try auth.tokens.verifyAccessToken(registered.accessToken.token)
        #expect(claims.methods == ["pwd", "hwk"] && claims.assuranceLevel == 2 && claims.sessionID == pair.sessionID)
        #expect(try auth.mfa.activeKinds(userID: user.id) == ["passkey"])
        #expect(try auth.accounts.passkeys(of: user.id).map(\.id) == [registered.passkey.id])

        // Discoverable: no address, an empty allow list; the assertion names its user.
        var device = authenticator
        var options = try auth.accounts.passkeySignInOptions(email: nil)
        #expect(options["allowCredentials"] == .array([]) && options["rpId"]?.stringValue == "example.com")
        let assertion = try device.assertion(origin: Self.origin, challenge: try challenge(options), userHandle: try handle(of: user.id))
        let signedIn = try auth.accounts.signInWithPasskey(response: assertion.json, client: client)
        claims = try auth.tokens.verifyAccessToken(signedIn.accessToken)
        #expect(signedIn.user.id == user.id && claims.methods == ["hwk", "mfa"] && claims.assuranceLevel == 2)
        // The same response again: its challenge is used.
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: assertion.json, client: self.client) }

        // Without user verification: AAL1.
        options = try auth.accounts.passkeySignInOptions(email: nil)
        let unverified = try device.assertion(
            origin: Self.origin, challenge: try challenge(options), flags: SoftAuthenticator.up, userHandle: try handle(of: user.id))
        claims = try auth.tokens.verifyAccessToken(try auth.accounts.signInWithPasskey(response: unverified.json, client: client).accessToken)
        #expect(claims.methods == ["hwk"] && claims.assuranceLevel == 1)

        // A discoverable sign-in without a user handle, or with another user's, is refused.
        options = try auth.accounts.passkeySignInOptions(email: nil)
        let anonymous = try device.assertion(origin: Self.origin, challenge: try challenge(options))
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: anonymous.json, client: self.client) }
        let other = try auth.accounts.createUser(email: "bob@example.com", password: "correct horse")
        options = try auth.accounts.passkeySignInOptions(email: nil)
        let impostor = try device.assertion(origin: Self.origin, challenge: try challenge(options), userHandle: try handle(of: other.id))
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: impostor.json, client: self.client) }
    }

    @Test func aCounterThatGoesBackIsRefusedAsAClone() throws {
        let (user, _, authenticator, _) = try registered("ann@example.com")
        var original = authenticator
        var clone = authenticator
        for _ in 0..<3 {
            let options = try auth.accounts.passkeySignInOptions(email: "ann@example.com")
            let assertion = try original.assertion(origin: Self.origin, challenge: try challenge(options))
            _ = try auth.accounts.signInWithPasskey(response: assertion.json, client: client)
        }
        clone.signCount = 2
        let options = try auth.accounts.passkeySignInOptions(email: "ann@example.com")
        let cloned = try clone.assertion(origin: Self.origin, challenge: try challenge(options))
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: cloned.json, client: self.client) }
        #expect(fixture.logs.all.contains { $0.contains("passkey_clone_suspected") })
        #expect(try fixture.count("SELECT sign_count AS n FROM passkeys WHERE user_id = ?", [.string(user.id)]) == 3)
    }

    @Test func optionsForAnAddressDoNotTellWhetherItExists() throws {
        let (user, _, authenticator, _) = try registered("ann@example.com")
        let (bobUser, _, bob, _) = try registered("bob@example.com")
        _ = try auth.accounts.createUser(email: "nopasskey@example.com", password: "correct horse")
        // The same members and the same (empty) list for an account with a passkey, one without, and no account; the
        // challenge, always written, is bound to the account.
        var shapes: [[String]] = []
        for email in ["ANN@example.com", "nopasskey@example.com", "nobody@example.com"] {
            let options = try auth.accounts.passkeySignInOptions(email: email)
            #expect(options["allowCredentials"] == .array([]), "\(email)")
            shapes.append(options.objectMembers?.map(\.0) ?? [])
        }
        #expect(Set(shapes.map { $0.joined(separator: ",") }).count == 1)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM webauthn_challenges WHERE purpose IN ('login', 'void')") == 3)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM webauthn_challenges WHERE purpose = 'void' AND user_id IS NULL") == 1)
        // Ann's challenge answers only Ann's passkey (Bob's discoverable passkey, named by Bob's handle, is refused).
        var device = authenticator
        var options = try auth.accounts.passkeySignInOptions(email: "ann@example.com")
        _ = try auth.accounts.signInWithPasskey(
            response: try device.assertion(origin: Self.origin, challenge: try challenge(options)).json, client: client)
        options = try auth.accounts.passkeySignInOptions(email: "ann@example.com")
        var other = bob
        let crossed = try other.assertion(origin: Self.origin, challenge: try challenge(options), userHandle: try handle(of: bobUser.id))
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: crossed.json, client: self.client) }
        // An unknown address's challenge answers nothing, not even a real passkey.
        options = try auth.accounts.passkeySignInOptions(email: "nobody@example.com")
        let assertion = try device.assertion(origin: Self.origin, challenge: try challenge(options), userHandle: try handle(of: user.id))
        #expect(throws: AuthError.invalidCredentials) { try self.auth.accounts.signInWithPasskey(response: assertion.json, client: self.client) }
    }

    @Test func aPasskeyIsTheSecondStepOfAPasswordSignIn() throws {
        let (user, _, authenticator, registered) = try registered("ann@example.com")
        guard case .secondFactorRequired(let pending) = try auth.accounts.signIn(email: "ann@example.com", password: "correct horse", client: client)
        else {
            Issue.record("no challenge")
            return
        }
        #expect(pending.factors == ["passkey", "recovery_code"])
        var device = authenticator
        // Options for another pending sign-in's challenge do not answer this one.
        guard
            case .secondFactorRequired(let otherPending) = try auth.accounts.signIn(
                email: "ann@example.com", password: "correct horse", client: client)
        else { return }
        let otherOptions = try auth.accounts.passkeyOptions(pendingSignIn: otherPending.token)
        let crossed = try device.assertion(origin: Self.origin, challenge: try challenge(otherOptions))
        #expect(throws: AuthError.invalidCode) {
            try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .passkey(crossed.json), client: self.client)
        }
        let options = try auth.accounts.passkeyOptions(pendingSignIn: pending.token)
        guard case .array(let allowed)? = options["allowCredentials"] else {
            Issue.record("no list")
            return
        }
        #expect(allowed.count == 1)
        let assertion = try device.assertion(origin: Self.origin, challenge: try challenge(options))
        let pair = try auth.accounts.completeSignIn(challenge: pending.token, proof: .passkey(assertion.json), client: client)
        let claims = try auth.tokens.verifyAccessToken(pair.accessToken)
        #expect(pair.user.id == user.id && claims.methods == ["pwd", "hwk", "mfa"] && claims.assuranceLevel == 2)
        #expect(throws: AuthError.invalidCode) { try self.auth.accounts.passkeyOptions(pendingSignIn: "not-a-token") }

        // Reauthentication with it, then its removal.
        fixture.clock.advance(3600)
        #expect(throws: AuthError(.reauthenticationRequired, "")) {
            try self.auth.accounts.removePasskey(id: registered.passkey.id, of: user.id, sessionID: pair.sessionID)
        }
        let again = try auth.accounts.passkeyReauthenticationOptions(userID: user.id, sessionID: pair.sessionID)
        let proof = try device.assertion(origin: Self.origin, challenge: try challenge(again))
        _ = try auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, with: .secondFactor(.passkey(proof.json)), client: client)
        #expect(try auth.accounts.renamePasskey(id: registered.passkey.id, of: user.id, to: "work laptop"))
        #expect(try auth.accounts.passkeys(of: user.id).first?.name == "work laptop")
        #expect(try auth.accounts.removePasskey(id: registered.passkey.id, of: user.id, sessionID: pair.sessionID))
        #expect(try auth.mfa.activeKinds(userID: user.id).isEmpty)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM passkeys") == 0)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = ?", [.string(user.id)]) == 0)
    }

    @Test func aCredentialRegistersOnceAndAChallengeIsItsUsersOnly() throws {
        let (user, pair, authenticator, _) = try registered("ann@example.com")
        // The same authenticator credential again (for this user, or another), is refused.
        let options = try auth.accounts.passkeyRegistrationOptions(userID: user.id, sessionID: pair.sessionID)
        let again = try authenticator.registration(origin: Self.origin, challenge: try challenge(options))
        #expect(throws: AuthError(.passkeyInvalid, "")) {
            try self.auth.accounts.registerPasskey(userID: user.id, sessionID: pair.sessionID, response: again.json, name: nil)
        }
        // Bob answering a challenge issued to Ann.
        let bob = try auth.accounts.createUser(email: "bob@example.com", password: "correct horse")
        let bobPair = try auth.accounts.login(email: "bob@example.com", password: "correct horse", client: client)
        let annOptions = try auth.accounts.passkeyRegistrationOptions(userID: user.id, sessionID: pair.sessionID)
        let bobKey = try SoftAuthenticator()
        let stolen = try bobKey.registration(origin: Self.origin, challenge: try challenge(annOptions))
        #expect(throws: AuthError(.passkeyInvalid, "")) {
            try self.auth.accounts.registerPasskey(userID: bob.id, sessionID: bobPair.sessionID, response: stolen.json, name: nil)
        }
        // A user with a factor needs a session that used one: a password-only session of Ann's may not add a passkey.
        let passwordOnly = try auth.accounts.signIn(email: "ann@example.com", password: "correct horse", client: client)
        #expect(passwordOnly.pair == nil)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM passkeys") == 1)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_factors WHERE kind = 'passkey'") == 1)
    }

    @Test func twoUsesOfOneChallengeNeverBothSucceed() throws {
        let (user, _, authenticator, _) = try registered("ann@example.com")
        for _ in 0..<5 {
            let options = try auth.accounts.passkeySignInOptions(email: nil)
            var device = authenticator
            let assertion = try device.assertion(
                origin: Self.origin, challenge: try challenge(options), counting: false, userHandle: try handle(of: user.id))
            let services = UncheckedBox(try (0..<4).map { _ in try fixture.auth() })
            let response = UncheckedBox(assertion.json)
            let client = client
            let outcomes = onThreads(4) { index in
                (try? services.value[index].accounts.signInWithPasskey(response: response.value, client: client)) != nil
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }
}
