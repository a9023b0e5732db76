import CryptoPrimitives
import Testing

@testable import AuthCore

extension AuthFixture {
    /// A user of `auth` with an active TOTP factor (the clock then moves past the confirming code's step): the user,
    /// its TOTP and its recovery codes.
    func enrolledWithTOTP(_ auth: AuthServices, email: String) throws -> (User, TOTP, [String]) {
        let user = try auth.accounts.createUser(email: email, password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        let codes = try auth.mfa.confirmTOTP(userID: user.id, code: code(totp))
        clock.advance(30)
        return (user, totp, codes)
    }

    /// The code of the clock's step (`offset` steps later).
    func code(_ totp: TOTP, offset: Int64 = 0) -> String { totp.code(step: totp.step(at: clock.now()) + offset) }

    /// The second-factor challenge of a sign-in with the password "correct horse".
    func challenge(_ auth: AuthServices, email: String, client: ClientContext) throws -> MFAChallenge {
        guard case .secondFactorRequired(let challenge) = try auth.accounts.signIn(email: email, password: "correct horse", client: client)
        else {
            Issue.record("no challenge")
            throw AuthError.invalidCode
        }
        return challenge
    }
}
