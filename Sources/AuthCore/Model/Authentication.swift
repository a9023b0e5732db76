public import FoundationEssentials

/// How and when a session's user last authenticated: the `auth_time` and `amr` (RFC 8176) of its access tokens.
///
/// `methods` holds RFC 8176 values: `pwd` (the password), `otp` (a TOTP or recovery code), `hwk`/`swk` (a passkey:
/// `swk` when it is synced, i.e. backup-eligible), `mfa` (a passkey that verified its user with a PIN or biometric:
/// itself two factors). The assurance level is 2 for two factors: a code, a user-verifying passkey, or a passkey
/// with the password; else 1 (the password alone, or a passkey without user verification alone).
public struct Authentication: Sendable, Equatable {
    /// The last act of authentication (login, registration, reset, second factor, reauthentication).
    public var time: Date
    /// What was used, in the order first used (no duplicates).
    public var methods: [String]

    /// Methods of a possession factor (a passkey).
    public static let keyMethods: Set<String> = ["hwk", "swk"]

    public init(time: Date, methods: [String]) {
        self.time = time
        self.methods = methods
    }

    /// 2 when two factors were used, else 1.
    public var assuranceLevel: Int { Self.assuranceLevel(of: methods) }

    /// The assurance level of a list of methods: 2 with a code (`otp`, only ever after another factor), a
    /// user-verifying passkey (`mfa`), or a passkey and the password.
    public static func assuranceLevel(of methods: [String]) -> Int {
        if methods.contains("otp") || methods.contains("mfa") { return 2 }
        return methods.contains(where: keyMethods.contains) && methods.contains("pwd") ? 2 : 1
    }

    /// `methods` with `more` added (each once, order kept).
    public func adding(_ more: [String], at time: Date) -> Authentication {
        var all = methods
        for method in more where !all.contains(method) { all.append(method) }
        return Authentication(time: time, methods: all)
    }

    /// The stored form: the methods comma-separated.
    var stored: String { methods.joined(separator: ",") }

    /// The methods of a stored form; unknown or malformed values are dropped (only known values travel in tokens).
    static func methods(stored text: String) -> [String] {
        methods(text.split(separator: ",").map(String.init))
    }

    /// The values this service records, each once, in their order; anything else dropped.
    static func methods(_ values: [String]) -> [String] {
        var methods: [String] = []
        for value in values where known.contains(value) && !methods.contains(value) { methods.append(value) }
        return methods
    }

    /// Every value this service records.
    static let known: Set<String> = ["pwd", "otp", "hwk", "swk", "mfa"]
}
