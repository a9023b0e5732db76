import Foundation
import ProcessManager
import Testing

@testable import Passwords

/// Hashes made by PHP 8.2's password_hash (Debian php8.2-cli), for shared-hosting migrations.
enum PHPVectors {
    static let password = "correct horse battery staple"
    static let bcrypt10 = "$2y$10$ginxgWIgyW.IpgwQQQySluebEcaCorhQne3pfeuMA.gKlp7mUZvZ."
    static let bcrypt4 = "$2y$04$I7mqIMHu9.BH1tIpYcl1WeTqWQkuBjql7JFCxFytphl1iHJcvZeKS"
    static let bcryptUnicode = "$2y$05$ILAlyxtBWScFaAqXnXSHzu3o0BQbgi13ooOEMp3KMvtg0CBlQA/ou"
    static let unicodePassword = "ünïcödé pässwörd 🔐"
    static let argon2i = "$argon2i$v=19$m=1024,t=2,p=1$bWRZbUxyb3d5bkp2Um1CSg$dazIigwuLrGZ1+eB0A7fmEgpAlAOm95PhzSHkLjmxF8"
    static let argon2idWeak = "$argon2id$v=19$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU"
    static let argon2idPHPDefault = "$argon2id$v=19$m=65536,t=4,p=1$eHRLNUl0SGhEMlZ1a2hFWQ$t6fq+P0RYfht/SJJPzy/ZXCZWsE3uUP/er8qazZ2LDo"
}

@Suite struct PasswordHashingTests {
    let hasher = try! Argon2Hasher(parameters: .owasp)

    @Test func bcryptUsesTheFirst72BytesAsPHPDid() {
        // libxcrypt's hash of "a" × 72, as PHP's password_hash stores it for any longer password with that prefix.
        let stored = "$2y$04$I7mqIMHu9.BH1tIpYcl1WeSZl1zP7aSaPMbWAaPBtR0kG1kOxeL/q"
        #expect(hasher.check(String(repeating: "a", count: 80), against: stored) == .valid(needsRehash: true))
        #expect(hasher.check(String(repeating: "a", count: 72), against: stored) == .valid(needsRehash: true))
        #expect(hasher.check(String(repeating: "a", count: 71), against: stored) == .invalid)
    }

    @Test func newHashesArePHCArgon2idWithTheConfiguredCosts() throws {
        let cheap = try Argon2Hasher(parameters: Argon2Parameters(memoryKiB: 64, iterations: 1, parallelism: 1))
        let hash = try cheap.hash("hunter2hunter2")
        #expect(hash.hasPrefix("$argon2id$v=19$m=64,t=1,p=1$"))
        #expect(cheap.check("hunter2hunter2", against: hash) == .valid(needsRehash: false))
        #expect(cheap.check("hunter2hunter3", against: hash) == .invalid)
        #expect(try cheap.hash("same") != (try cheap.hash("same")), "salts must differ")
        // Stronger current parameters make the old hash due for a rehash.
        #expect(hasher.check("hunter2hunter2", against: hash) == .valid(needsRehash: true))
    }

    @Test(arguments: [
        (PHPVectors.bcrypt10, PHPVectors.password, true), (PHPVectors.bcrypt4, PHPVectors.password, true),
        (PHPVectors.bcryptUnicode, PHPVectors.unicodePassword, true), (PHPVectors.argon2i, PHPVectors.password, true),
        (PHPVectors.argon2idWeak, PHPVectors.password, true), (PHPVectors.argon2idPHPDefault, PHPVectors.password, false),
    ])
    func phpHashesVerifyAndWeakOnesAreRehashed(stored: String, password: String, needsRehash: Bool) {
        #expect(hasher.check(password, against: stored) == .valid(needsRehash: needsRehash))
        #expect(hasher.check(password + "x", against: stored) == .invalid)
        #expect(hasher.check("", against: stored) == .invalid)
    }

    @Test(arguments: [
        "$argon2id$v=19$m=4294967295,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=100000,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=2,p=255$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=16$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2d$v=19$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$t=2,m=1024,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=01024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=4,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=0,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA==$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=2,p=1$c2hvcnQ$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$QUFB",
        "$argon2id$v=19$m=1024,t=2,p=1$OGJW-ElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
        "$argon2id$v=19$m=1024,t=2,p=1$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU$extra",
        "$argon2id$v=19$m=1024,t=2$OGJWaElNem9yS3dBY3hEVA$BlYXfCtrg2SZxljvsfj8DgspU0hBstGipVgfQo0OMdU",
    ])
    func malformedPHCStringsAreRefusedBeforeLibargon2(stored: String) {
        // The strict parser is the gate in front of libargon2: nothing it refuses reaches a hashing call.
        #expect(PHCHash(parsing: stored) == nil)
        #expect(hasher.check(PHPVectors.password, against: stored) == .unsupportedHash)
    }

    @Test(arguments: [
        "$2y$31$ginxgWIgyW.IpgwQQQySluebEcaCorhQne3pfeuMA.gKlp7mUZvZ.", "$2y$10$short",
        "$2x$10$ginxgWIgyW.IpgwQQQySluebEcaCorhQne3pfeuMA.gKlp7mUZvZ.", "$2y$10$ginxgWIgyW.IpgwQQQySluebEcaCorhQne3pfeuMA.gKlp7mUZv!.",
        "$1$salt$hash", "plaintext", "", "$5$rounds=5000$salt$hash",
    ])
    func unsupportedHashesAreRefused(stored: String) {
        #expect(hasher.check(PHPVectors.password, against: stored) == .unsupportedHash)
    }

    @Test func aPasswordWithNULNeverMatchesABcryptPrefix() {
        #expect(hasher.check(PHPVectors.password + "\u{0}tail", against: PHPVectors.bcrypt4) == .unsupportedHash)
    }

    @Test func phcBase64IsCanonical() {
        #expect(PHCBase64.decode("QUJD") == [65, 66, 67])
        #expect(PHCBase64.decode("QQ") == [65])
        #expect(PHCBase64.decode("QR") == nil)
        #expect(PHCBase64.decode("QQ==") == nil)
        #expect(PHCBase64.encode([251, 255]) == "+/8")
    }
}

@Suite struct PasswordPolicyTests {
    @Test func lengthRulesOnly() {
        let policy = PasswordPolicy()
        #expect(policy.problem(with: "1234567") != nil)
        #expect(policy.problem(with: "12345678") == nil)
        #expect(policy.problem(with: "aaaaaaaa") == nil, "no composition rules (NIST 800-63B)")
        #expect(policy.problem(with: "🔐🔐🔐🔐🔐🔐🔐🔐") == nil, "characters, not bytes, count for the minimum")
        #expect(policy.problem(with: String(repeating: "x", count: 1025)) != nil)
        #expect(policy.problem(with: String(repeating: "x", count: 1024)) == nil)
        #expect(policy.problem(with: "abcdefgh\u{0}") != nil)
    }
}

/// Counts how many calls are inside the wrapped hasher at once (the limiter's subject; the real Argon2id is tested
/// above and would only make this test slow).
private final class ConcurrencyProbe: PasswordHashing, @unchecked Sendable {
    // @unchecked Sendable: the counters are guarded by `lock`.
    private let lock = NSLock()
    private var inside = 0
    private(set) var maximum = 0
    private(set) var calls = 0

    private func enter() {
        lock.lock()
        inside += 1
        calls += 1
        maximum = max(maximum, inside)
        lock.unlock()
        usleep(20_000)
        lock.lock()
        inside -= 1
        lock.unlock()
    }

    func hash(_ password: String) throws(PasswordError) -> String {
        enter()
        return "hash"
    }

    func check(_ password: String, against stored: String) -> PasswordCheck {
        enter()
        return .invalid
    }

    func checkAgainstDummy(_ password: String) -> PasswordCheck {
        enter()
        return .invalid
    }
}

@Suite(.serialized) struct Argon2MemoryPoolTests {
    @Test func workingMemoryIsReusedAndBounded() throws {
        let parameters = Argon2Parameters(memoryKiB: 256, iterations: 1, parallelism: 1)
        let hasher = try Argon2Hasher(parameters: parameters)
        Argon2Hasher.keepReusableBuffers(2)
        defer { Argon2Hasher.keepReusableBuffers(0) }
        let stored = try hasher.hash("correct horse battery staple")
        // (Other suites hash in parallel in this process, so only bounds are exact here.)
        #expect(Argon2Hasher.reusableBuffers <= 2)
        for _ in 0..<5 { #expect(hasher.check("correct horse battery staple", against: stored) == .valid(needsRehash: false)) }
        #expect(Argon2Hasher.reusableBuffers <= 2)
        // Many at once: more buffers are made, but no more than the capacity are kept.
        let done = DispatchGroup()
        for _ in 0..<6 {
            done.enter()
            Thread.detachNewThread {
                _ = hasher.check("wrong", against: stored)
                done.leave()
            }
        }
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(Argon2Hasher.reusableBuffers <= 2)
        #expect(hasher.check("correct horse battery staple", against: stored) == .valid(needsRehash: false))
        #expect(hasher.check("correct horse battery stapl", against: stored) == .invalid)
        // Capacity 0 (the default): nothing is kept.
        Argon2Hasher.keepReusableBuffers(0)
        #expect(Argon2Hasher.reusableBuffers == 0)
    }
}

/// The lane jwt-authd gives the limiter: a WorkLane over the pool's shared permits (here over this process's memory).
private struct PoolLane: HashingLane {
    let lane: WorkLane
    var limit: Int { lane.threads }
    func enter() -> Bool { lane.enter() }
    func leave() { lane.leave() }
    func run(_ work: @escaping @Sendable () -> Void) -> Bool { lane.run(work) }
}

@Suite struct HashingLimiterTests {
    @Test(arguments: [1, 2, 3])
    func atMostTheLimitRunAtOnce(limit: Int) throws {
        let probe = ConcurrencyProbe()
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let lane = try WorkLane(
            name: "test-hash", threads: limit, capacity: 8, wait: .seconds(10), nice: 10, permits: memory.permits(limit: limit))
        let limiter = HashingLimiter(probe, lane: PoolLane(lane: lane))
        let done = DispatchGroup()
        for index in 0..<8 {
            done.enter()
            Thread.detachNewThread {
                switch index % 3 {
                case 0: _ = try? limiter.hash("p")
                case 1: _ = limiter.check("p", against: "h")
                default: limiter.checkAgainstDummy("p")
                }
                done.leave()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(probe.calls == 8)
        #expect(probe.maximum == limit, "8 callers, limit \(limit)")
        #expect(memory.permits(limit: limit).held == 0, "every permit given back")
    }
}
