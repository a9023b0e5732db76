import AuthCore
import Foundation
import MariaDB
import Synchronization
import TestSupport
import Testing

/// Runs `body` on `count` OS threads that start together; returns their results in thread order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = Mutex<[Int: T]>([:])
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for index in 0..<count {
        done.enter()
        let thread = Thread {
            ready.signal()
            go.wait()
            let value = body(index)
            results.withLock { $0[index] = value }
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { ready.wait() }
    for _ in 0..<count { go.signal() }
    done.wait()
    return results.withLock { dictionary in (0..<count).map { dictionary[$0]! } }
}

enum RefreshOutcome: Sendable, Equatable {
    case pair(jti: String)
    case refused(String)
}

@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
struct ConcurrencyTests {
    private func race(grace: String) throws -> (AuthFixture, TokenPair, [RefreshOutcome]) {
        let fixture = try AuthFixture(env: ["JWT_REFRESH_GRACE": grace])
        let setup = try fixture.auth()
        let user = try setup.accounts.createUser(email: "race@example.com", password: "correct horse")
        let first = try setup.sessions.startSession(for: user, client: AuthFixture.client)
        let auths = try (0..<32).map { _ in try fixture.auth() }
        let boxed = UncheckedBox(auths)
        let outcomes = onThreads(32) { index -> RefreshOutcome in
            do {
                let pair = try boxed.value[index].sessions.refresh(first.refreshToken, client: AuthFixture.client)
                return .pair(jti: (try? fixture.jti(of: pair.refreshToken)) ?? "?")
            } catch let error as AuthError {
                return .refused(error.code.rawValue)
            } catch {
                return .refused("\(error)")
            }
        }
        return (fixture, first, outcomes)
    }

    @Test func thirtyTwoConcurrentRefreshesWithGraceGetOneSuccessor() throws {
        let (fixture, first, outcomes) = try race(grace: "10s")
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ?", [.string(first.sessionID)]) == 2)
        let successor = try #require(
            try Connection(url: fixture.url).query(
                "SELECT id FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL", [.string(first.sessionID)]
            ).first?.string("id"))
        #expect(outcomes.allSatisfy { $0 == .pair(jti: successor) }, "\(outcomes)")
    }

    @Test func thirtyTwoConcurrentRefreshesWithoutGraceRevokeTheFamily() throws {
        let (fixture, first, outcomes) = try race(grace: "0s")
        let successes = outcomes.filter { if case .pair = $0 { true } else { false } }
        #expect(successes.count == 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == .refused("token_reused") }.count == 31, "\(outcomes)")
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM sessions WHERE id = ? AND revoked_at IS NOT NULL",
                [.string(first.sessionID)]) == 1)
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL",
                [.string(first.sessionID)]) == 0)
    }

    @Test func aThousandSessionsRotatedInParallelLoseNothing() throws {
        let fixture = try AuthFixture()
        let setup = try fixture.auth()
        let user = try setup.accounts.createUser(email: "many@example.com", password: "correct horse")
        let pairs = try (0..<1000).map { _ in try setup.sessions.startSession(for: user, client: AuthFixture.client) }
        let threads = 16
        let auths = UncheckedBox(try (0..<threads).map { _ in try fixture.auth() })
        let tokens = pairs.map(\.refreshToken)
        let results = onThreads(threads) { index -> [String] in
            stride(from: index, to: tokens.count, by: threads).compactMap { position in
                try? auths.value[index].sessions.refresh(tokens[position], client: AuthFixture.client).sessionID
            }
        }
        #expect(results.flatMap { $0 }.count == 1000)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens") == 2000)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL") == 1000)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE replaced_by IS NOT NULL") == 1000)
        #expect(try fixture.count("SELECT COUNT(DISTINCT family) AS n FROM refresh_tokens WHERE revoked_at IS NULL") == 1000)
    }

    @Test func concurrentGuessesNeverGetMoreThanTheLimitEvaluated() throws {
        let fixture = try AuthFixture()
        let setup = try fixture.auth()
        _ = try setup.accounts.createUser(email: "target@example.com", password: "correct horse")
        let limit = setup.settings.throttle.loginPerAccount
        let work = fixture.hasher.checks + fixture.hasher.dummies
        let auths = UncheckedBox(try (0..<32).map { _ in try fixture.auth() })
        let outcomes = onThreads(32) { index -> String in
            do {
                _ = try auths.value[index].accounts.login(
                    email: "target@example.com", password: "guess \(index)", client: ClientContext(ip: "198.51.100.\(index)"))
                return "ok"
            } catch let error as AuthError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }
        #expect(fixture.hasher.checks + fixture.hasher.dummies - work == limit, "exactly the limit evaluated")
        #expect(outcomes.filter { $0 == "invalid_credentials" }.count == limit)
        #expect(outcomes.filter { $0 == "throttled" }.count == 32 - limit)
    }

    /// Registrations and password changes are counted before hashing too (atomically), like logins.
    @Test func concurrentRegistrationsAndPasswordGuessesNeverExceedTheirLimits() throws {
        let fixture = try AuthFixture(env: ["JWT_THROTTLE_REGISTER_PER_IP": "4", "JWT_THROTTLE_PASSWORD_CHANGE": "3"])
        let setup = try fixture.auth()
        let user = try setup.accounts.createUser(email: "owner@example.com", password: "correct horse")
        let auths = UncheckedBox(try (0..<16).map { _ in try fixture.auth() })
        @Sendable func outcome(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "ok"
            } catch let error as AuthError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }
        let hashes = fixture.hasher.hashes
        let registrations = onThreads(16) { index in
            outcome {
                _ = try auths.value[index].accounts.register(
                    email: "new\(index)@example.com", password: "long enough", name: nil, client: AuthFixture.client, links: nil)
            }
        }
        #expect(registrations.filter { $0 == "ok" }.count == 4, "\(registrations)")
        #expect(registrations.filter { $0 == "throttled" }.count == 12, "\(registrations)")
        #expect(fixture.hasher.hashes - hashes == 4, "only the limit's registrations hashed")
        let checks = fixture.hasher.checks
        let guesses = onThreads(16) { index in
            outcome {
                try auths.value[index].accounts.changePassword(
                    userID: user.id, current: "guess \(index)", new: "another password", keepingSession: nil)
            }
        }
        #expect(fixture.hasher.checks - checks == 3, "exactly the limit evaluated: \(guesses)")
        #expect(guesses.filter { $0 == "throttled" }.count == 13)
    }

    @Test func addressesOfOneIPv6NetworkShareOneLimit() throws {
        let fixture = try AuthFixture(env: ["JWT_THROTTLE_LOGIN_PER_IP": "5"])
        let auth = try fixture.auth()
        var outcomes: [String] = []
        for index in 0..<8 {
            let client = ClientContext(ip: "2001:db8:1:2:\(String(index, radix: 16)):aaaa:bbbb:\(index + 1)")
            do {
                _ = try auth.accounts.login(email: "victim\(index)@example.com", password: "guess guess", client: client)
            } catch {
                outcomes.append(error.code.rawValue)
            }
        }
        #expect(outcomes == Array(repeating: "invalid_credentials", count: 5) + Array(repeating: "throttled", count: 3))
        // Another /64 is another network.
        #expect(throws: AuthError.invalidCredentials) {
            try auth.accounts.login(email: "victim@example.com", password: "guess guess", client: ClientContext(ip: "2001:db8:1:3::1"))
        }
    }
}

/// Moves a non-Sendable value to threads that use disjoint parts of it.
struct UncheckedBox<T>: @unchecked Sendable {
    // @unchecked Sendable: each thread touches only its own element.
    let value: T
    init(_ value: T) { self.value = value }
}
