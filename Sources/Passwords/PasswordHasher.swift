/// Argon2id parameters (RFC 9106 / OWASP): memory in KiB, iterations, lanes.
public struct Argon2Parameters: Sendable, Equatable, Comparable {
    public var memoryKiB: UInt32
    public var iterations: UInt32
    public var parallelism: UInt32

    public init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// OWASP's Argon2id recommendation: m = 19 MiB, t = 2, p = 1.
    public static let owasp = Argon2Parameters(memoryKiB: 19 * 1024, iterations: 2, parallelism: 1)
    /// The cheapest valid parameters, for tests only.
    public static let testing = Argon2Parameters(memoryKiB: 8, iterations: 1, parallelism: 1)

    /// Upper bounds accepted when parsing a stored hash, so a hostile or corrupt row cannot make a login burn
    /// gigabytes or minutes: m ≤ 1 GiB, t ≤ 32, p ≤ 16.
    public static let caps = Argon2Parameters(memoryKiB: 1 << 20, iterations: 32, parallelism: 16)

    /// "Weaker than" means: less memory or fewer iterations.
    public static func < (lhs: Argon2Parameters, rhs: Argon2Parameters) -> Bool {
        lhs.memoryKiB < rhs.memoryKiB || lhs.iterations < rhs.iterations
    }
}

/// What checking a password against a stored hash found.
public enum PasswordCheck: Sendable, Equatable {
    /// The password is right; `needsRehash` when the hash is bcrypt, argon2i or weaker than the current parameters.
    case valid(needsRehash: Bool)
    /// The password is wrong.
    case invalid
    /// The stored hash is not one we accept (unknown format, absurd costs): treated as a wrong password.
    case unsupportedHash
    /// Nothing was checked: no hashing turn came within the wait (the service is busy; try again later).
    case busy
}

/// Hashes and checks passwords. Injected into the domain so tests can count hashing work.
public protocol PasswordHashing: Sendable {
    /// A new PHC-format hash of `password`.
    func hash(_ password: String) throws(PasswordError) -> String
    /// Checks `password` against a stored hash, in time independent of where a mismatch is.
    func check(_ password: String, against stored: String) -> PasswordCheck
    /// Spends the same work as checking a password against a hash made with the current parameters, for an
    /// unknown account (no user enumeration by timing). Answers `.invalid`, or `.busy` when no turn came.
    @discardableResult func checkAgainstDummy(_ password: String) -> PasswordCheck
    /// Takes one of this process's places for a request that will wait for or run a hash; `false` when they are all
    /// taken (answer "busy" before doing anything else). Every `true` is followed by one ``leaveQueue()``.
    func enterQueue() -> Bool
    /// Gives back the place of ``enterQueue()``.
    func leaveQueue()
}

extension PasswordHashing {
    /// Without a queue (a command, a test): always a place.
    public func enterQueue() -> Bool { true }
    public func leaveQueue() {}
}

/// A hashing failure (libargon2's code, never the password).
public struct PasswordError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "password hashing failed: \(message) (\(code))" }

    /// No hashing turn came within the wait: nothing was hashed (the service is busy; try again later).
    public static let busy = PasswordError(code: -1_000_001, message: "no hashing turn within the wait")
}

/// Password rules (NIST SP 800-63B): a length range, no composition rules.
public struct PasswordPolicy: Sendable {
    public var minimumCharacters: Int
    public var maximumBytes: Int

    public init(minimumCharacters: Int = 8, maximumBytes: Int = 1024) {
        self.minimumCharacters = minimumCharacters
        self.maximumBytes = maximumBytes
    }

    /// Why a new password is refused, or `nil` when it is acceptable.
    public func problem(with password: String) -> String? {
        // Code points, as JSON Schema's minLength counts them.
        if password.unicodeScalars.count < minimumCharacters { return "must have at least \(minimumCharacters) characters" }
        if password.utf8.count > maximumBytes { return "must have at most \(maximumBytes) bytes" }
        if password.utf8.contains(0) { return "must not contain NUL characters" }
        return nil
    }
}
