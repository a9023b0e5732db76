import MariaDB
import Testing

@testable import AuthCore

/// MariaDB's failures leave AuthCore translated: a domain code for the client and the metrics, the cause for the log.
@Suite struct StorageErrorTests {
    @Test(arguments: [
        (MariaDBError.connectionLost, AuthError.Code.databaseUnavailable, StorageFailure.Kind.unavailable),
        (.connectionFailed, .databaseUnavailable, .unavailable),
        (.deadlock, .databaseUnavailable, .conflict),
        (.lockWaitTimeout, .databaseUnavailable, .conflict),
        (.statementTimeout, .databaseUnavailable, .unavailable),
        (.duplicateKey, .databaseFailure, .duplicateKey),
        (.foreignKey, .databaseFailure, .other),
        (.typeMismatch, .databaseFailure, .other),
        (.server, .databaseFailure, .other),
    ])
    func translatesEveryKind(error: MariaDBError, code: AuthError.Code, kind: StorageFailure.Kind) {
        let translated = Database.translate(MariaDBError(code: error.code, errno: 1213, message: "the server's words"))
        #expect(translated.code == code)
        #expect(translated.storage?.kind == kind)
        #expect(translated.storage?.errno == 1213)
        #expect(translated.isDatabaseFailure)
        #expect(translated.internalCause?.contains("db.code=\(error.code)") == true)
        #expect(!translated.message.contains("the server's words"), "the client-facing message says nothing of the server")
    }

    @Test func aDuplicateEmailIsTheDomainsEmailTaken() throws {
        let fixture = try AuthFixture()
        let auth = try fixture.auth()
        _ = try auth.accounts.createUser(email: "dup@example.com", password: "correct horse")
        #expect(throws: AuthError.emailTaken) { try auth.accounts.createUser(email: "DUP@example.com", password: "correct horse") }
    }
}
