import FoundationEssentials
import Testing

@testable import MariaDB

@Suite struct DatabaseURLTests {
    @Test func parsesTCPWithCredentials() throws {
        let url = try DatabaseURL(parsing: "mariadb://auth:s3cr%40t@db.internal:3307/jwt_authd?ssl-mode=verify&ssl-ca=/etc/ca.pem")
        #expect(url.user == "auth")
        #expect(url.password == "s3cr@t")
        #expect(url.host == "db.internal")
        #expect(url.port == 3307)
        #expect(url.database == "jwt_authd")
        #expect(url.tlsMode == .verify)
        #expect(url.tlsCA == "/etc/ca.pem")
    }

    @Test func parsesUnixSocket() throws {
        let url = try DatabaseURL(parsing: "mariadb://root@localhost/app?socket=/run/mysqld/mysqld.sock")
        #expect(url.socket == "/run/mysqld/mysqld.sock")
        #expect(url.password == nil)
        #expect(url.port == 3306)
    }

    @Test func timeoutsHaveDefaultsAndOptions() throws {
        let plain = try DatabaseURL(parsing: "mariadb://root@localhost/app")
        #expect(plain.connectTimeoutSeconds == 5 && plain.readTimeoutSeconds == 10 && plain.writeTimeoutSeconds == 10)
        let set = try DatabaseURL(parsing: "mariadb://root@localhost/app?read-timeout=3&write-timeout=4&connect-timeout=2")
        #expect(set.connectTimeoutSeconds == 2 && set.readTimeoutSeconds == 3 && set.writeTimeoutSeconds == 4)
        for bad in ["read-timeout=0", "write-timeout=601", "read-timeout=-1", "read-timeout=x"] {
            #expect(throws: MariaDBError.invalidURL) { try DatabaseURL(parsing: "mariadb://root@localhost/app?\(bad)") }
        }
    }

    @Test func descriptionMasksThePassword() throws {
        let url = try DatabaseURL(parsing: "mariadb://auth:hunter2hunter2@127.0.0.1:3306/db")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description.contains("auth:****@"))
    }

    /// #19: the nodes of a cluster, in order of preference (parsed on purpose, not by accident).
    @Test func parsesSeveralHostsInOrder() throws {
        let url = try DatabaseURL(parsing: "mariadb://auth:pw@db1:3306,db2:3307,[::1],db4/jwt_authd?sync-wait=1")
        #expect(url.endpoints.map(\.description) == ["db1:3306", "db2:3307", "[::1]:3306", "db4:3306"])
        #expect(url.host == "db1" && url.port == 3306 && url.syncWait == 1)
        #expect(url.description == "mariadb://auth:****@db1:3306,db2:3307,[::1]:3306,db4:3306/jwt_authd?sync-wait=1")
        #expect(try DatabaseURL(parsing: "mariadb://u@h/db").otherEndpoints.isEmpty)
        #expect(try DatabaseURL(parsing: "mariadb://u@h/db").syncWait == nil)
        #expect(try DatabaseURL(parsing: "mariadb://u@h/db").failbackSeconds == 30)
        let noFailback = try DatabaseURL(parsing: "mariadb://u@a,b/db?failback=0")
        #expect(noFailback.failbackSeconds == 0 && noFailback.description == "mariadb://u@a:3306,b:3306/db?failback=0")
    }

    @Test(arguments: [
        "mariadb://u@a,,b/db", "mariadb://u@a,/db", "mariadb://u@,a/db", "mariadb://u@a:3306,a:3306/db",
        "mariadb://u@a,b/db?socket=/run/mysqld/mysqld.sock", "mariadb://u@a,b:0/db", "mariadb://u@h/db?sync-wait=16",
        "mariadb://u@h/db?sync-wait=x", "mariadb://u@h/db?failback=3601", "mariadb://u@h/db?failback=-1",
        "mariadb://u@" + (1...17).map { "h\($0)" }.joined(separator: ",") + "/db",
    ])
    func rejectsBadHostLists(text: String) {
        #expect(throws: MariaDBError.invalidURL) { try DatabaseURL(parsing: text) }
    }

    @Test(arguments: [
        "postgres://u@h/db", "mariadb://u@h", "mariadb://u@h/", "mariadb://u@h:0/db", "mariadb://u@h:99999/db",
        "mariadb://u@h/db?socket=relative", "mariadb://u@h/db?ssl-mode=maybe", "mariadb://u@h/db?bogus=1",
        "mariadb://u@h/db;drop", "mariadb://u:%zz@h/db", "mariadb://u@h/db?ssl-cert=/a.pem", "mariadb://:p@h/db",
    ])
    func rejectsBadURLs(text: String) {
        #expect(throws: MariaDBError.invalidURL) { try DatabaseURL(parsing: text) }
    }

    @Test func errorMessageNeverContainsThePassword() {
        do {
            _ = try DatabaseURL(parsing: "mariadb://u:topsecretpw@h:bad/db")
            Issue.record("expected an error")
        } catch {
            #expect(!error.description.contains("topsecretpw"))
        }
    }
}

@Suite struct CivilTimeTests {
    @Test(arguments: [0.0, 1_700_000_000.123456, -86_400.5, 253_402_300_799.999999, 951_782_400.000001])
    func roundTripsThroughFields(seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        let back = CivilTime.date(from: CivilTime.fields(of: date))
        #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000001)
    }

    @Test func knownDates() {
        #expect(
            CivilTime.fields(of: Date(timeIntervalSince1970: 951_782_400))
                == .init(year: 2000, month: 2, day: 29, hour: 0, minute: 0, second: 0, microsecond: 0))
        #expect(
            CivilTime.fields(of: Date(timeIntervalSince1970: 1_700_000_000.25))
                == .init(year: 2023, month: 11, day: 14, hour: 22, minute: 13, second: 20, microsecond: 250_000))
    }
}
