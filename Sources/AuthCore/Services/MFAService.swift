import CryptoPrimitives
public import FoundationEssentials
import Logging

/// Second factors (#17): TOTP enrolment and checks, recovery codes. Factors are rows of any kind (TOTP now, passkeys
/// later); secrets are sealed under ``MFAKeyRing`` and opened only here, for a check. One per thread.
public final class MFAService {
    let factors: FactorStore
    let users: UserStore
    let database: Database
    let keys: MFAKeyRing?
    let settings: Settings
    let clock: any AuthClock
    let logger: Logger

    /// TOTP's parameters and the issuer authenticator apps show.
    public struct Settings: Sendable {
        public var issuer: String
        public var digits = 6
        public var period = 30
        public var skew = 1
        /// How long an unconfirmed enrolment waits for its first code.
        public var enrolmentLifetime: Duration = .seconds(600)

        public init(issuer: String, digits: Int = 6, period: Int = 30, skew: Int = 1) {
            self.issuer = issuer
            self.digits = digits
            self.period = period
            self.skew = skew
        }
    }

    /// A started enrolment: what the user's app needs (never stored in the clear).
    public struct Enrolment: Sendable {
        public let id: String
        public let secretBase32: String
        public let otpauthURI: String

        public init(id: String, secretBase32: String, otpauthURI: String) {
            self.id = id
            self.secretBase32 = secretBase32
            self.otpauthURI = otpauthURI
        }
    }

    /// Recovery codes per set.
    public static let recoveryCodeCount = 10

    init(database: Database, keys: MFAKeyRing?, settings: Settings, clock: any AuthClock, logger: Logger) {
        self.database = database
        factors = FactorStore(database: database)
        users = UserStore(database: database)
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// Whether factors can be used (keys are configured).
    public var isAvailable: Bool { keys != nil }

    /// Starts a TOTP enrolment: a new 160-bit secret, sealed, pending for ten minutes (a newer enrolment replaces it).
    ///
    /// - Throws: ``AuthError`` `mfaUnavailable`, `notFound`.
    public func beginTOTP(userID: String, name: String?) throws(AuthError) -> Enrolment {
        guard let keys else { throw AuthError.mfaUnavailable }
        guard let user = try users.find(id: userID) else { throw AuthError.notFound }
        let now = clock.now()
        let id = Identifier.make(at: now)
        let secret = SecureBytes(randomCount: 20)
        let (keyID, box) = keys.seal(secret, userID: userID, factorID: id)
        // Re-run safe: the id and sealed secret were made before; the insert replaces pending enrolments.
        try database.transaction { _ throws(AuthError) in
            try factors.insertPending(
                id: id, userID: userID, kind: "totp", name: name, keyID: keyID, secret: box, now: now,
                expiresAt: now.addingTimeInterval(settings.enrolmentLifetime.timeInterval))
        }
        let totp = TOTP(secret: secret, digits: settings.digits, period: settings.period)
        return Enrolment(id: id, secretBase32: Base32.encode(secret.bytes), otpauthURI: totp.uri(issuer: settings.issuer, account: user.email))
    }

    /// Activates the pending TOTP factor with one valid code, and makes a new set of recovery codes (returned once).
    ///
    /// The activation is a conditional update of its own, read back on a Galera node (two confirmations through two
    /// nodes can both commit it; the factor's row keeps the claim of one): only the confirmation it keeps stores its
    /// codes, so a confirmation that lost writes nothing else (a transaction that lost this way is not always undone
    /// whole: see ``AccountService/resetPassword(token:newPassword:client:)``). Should storing the codes fail, the
    /// factor goes back to pending.
    ///
    /// - Throws: ``AuthError`` `invalidCode` (no pending enrolment, expired, or a wrong code), `mfaUnavailable`.
    public func confirmTOTP(userID: String, code: String) throws(AuthError) -> [String] {
        guard let keys else { throw AuthError.mfaUnavailable }
        let now = clock.now()
        guard let pending = try factors.pending(userID: userID, kind: "totp", now: now), let step = try check(code, pending, keys, now)
        else { throw AuthError.invalidCode }
        let claim = Claim()
        guard try factors.activate(id: pending.id, userID: userID, step: step, now: now, claim: claim) else { throw AuthError.invalidCode }
        let codes = Self.newRecoveryCodes()
        let digests = Self.digests(of: codes, key: keys.keys[0])
        do throws(AuthError) {
            // A read-back that fails puts the factor back to pending too (only while it holds this claim).
            guard
                try database.keeps(claim, "totp_activation", readBack: { () throws(AuthError) in try factors.activationClaim(of: pending.id) })
            else { throw AuthError.invalidCode }
            // Re-run safe: the set is replaced whole; the same end state once or twice.
            try database.transaction { _ throws(AuthError) in try factors.replaceRecoveryCodes(userID: userID, digests: digests, now: now) }
        } catch {
            let back = now.addingTimeInterval(settings.enrolmentLifetime.timeInterval)
            do {
                try factors.deactivate(id: pending.id, claim: claim, expiresAt: back)
            } catch let undo {
                logger.warning(
                    "a factor whose recovery codes were not stored stayed active",
                    metadata: ["event": "mfa_activation_not_undone", "user.id": "\(userID)", "error": "\(undo.logCause)"])
            }
            throw error
        }
        logger.notice("second factor added", metadata: ["event": "mfa_factor_added", "user.id": "\(userID)", "mfa.kind": "totp"])
        return codes
    }

    /// Whether `code` is a valid, unused TOTP code of one of the user's active factors; its step is then recorded
    /// (a conditional update: a code works once, on every host).
    public func verifyTOTP(userID: String, code: String) throws(AuthError) -> Bool {
        guard let keys else { throw AuthError.mfaUnavailable }
        let now = clock.now()
        for factor in try factors.active(userID: userID) where factor.kind == "totp" {
            if let step = try check(code, factor, keys, now), try factors.recordStep(id: factor.id, step: step, now: now) { return true }
        }
        return false
    }

    /// Uses one recovery code (spaces, dashes and case do not matter). Returns whether it was unused.
    public func useRecoveryCode(userID: String, code: String) throws(AuthError) -> Bool {
        guard let keys else { throw AuthError.mfaUnavailable }
        let normalized = Self.normalized(code)
        guard normalized.utf8.count == 16 else { return false }
        let now = clock.now()
        // Digests under every key: a set made before a key rotation still works.
        for key in keys.keys where try factors.useRecoveryCode(userID: userID, digest: Self.digest(ofNormalized: normalized, key: key), now: now) {
            logger.notice("recovery code used", metadata: ["event": "mfa_recovery_code_used", "user.id": "\(userID)"])
            return true
        }
        return false
    }

    /// A new set of recovery codes (the old ones die).
    ///
    /// - Throws: ``AuthError`` `notFound` when the user has no active factor (codes would answer nothing).
    public func replaceRecoveryCodes(userID: String) throws(AuthError) -> [String] {
        guard let keys else { throw AuthError.mfaUnavailable }
        guard try !factors.activeKinds(userID: userID).isEmpty else { throw AuthError(.notFound, "No second factor to recover") }
        let codes = Self.newRecoveryCodes()
        let now = clock.now()
        // Re-run safe: the set is replaced whole; the same end state once or twice.
        try database.transaction { _ throws(AuthError) in
            try factors.replaceRecoveryCodes(userID: userID, digests: Self.digests(of: codes, key: keys.keys[0]), now: now)
        }
        return codes
    }

    /// Inside the transaction that activated a factor other than TOTP (a passkey): when it is the user's only
    /// active factor and recovery codes can be made, a new set (returned once); else `nil`.
    func recoveryCodesForFirstFactor(userID: String, now: Date) throws(AuthError) -> [String]? {
        guard let keys, try factors.activeCount(userID: userID) == 1 else { return nil }
        let codes = Self.newRecoveryCodes()
        try factors.replaceRecoveryCodes(userID: userID, digests: Self.digests(of: codes, key: keys.keys[0]), now: now)
        return codes
    }

    /// The user's active factors and how many recovery codes are left.
    public func summary(userID: String) throws(AuthError) -> (factors: [FactorInfo], recoveryCodesLeft: Int) {
        (
            try factors.active(userID: userID).map {
                FactorInfo(id: $0.id, kind: $0.kind, name: $0.name, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt)
            }, try factors.recoveryCodesLeft(userID: userID)
        )
    }

    /// Removes one factor of the user (and the recovery codes with the last one). Returns whether it existed.
    public func remove(factorID: String, userID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(factorID) else { return false }
        // Re-run safe: the delete is conditional (a rolled-back attempt deleted nothing).
        let removed = try database.transaction { _ throws(AuthError) in
            guard try factors.delete(id: factorID, userID: userID) else { return false }
            try factors.dropRecoveryCodesWithoutFactors(userID: userID)
            return true
        }
        if removed { logger.notice("second factor removed", metadata: ["event": "mfa_factor_removed", "user.id": "\(userID)"]) }
        return removed
    }

    /// Removes every factor and recovery code of the user (an administrator's reset). Returns how many active factors
    /// there were.
    @discardableResult
    public func removeAll(userID: String) throws(AuthError) -> Int {
        // Re-run safe: deleting every factor is the same done twice.
        let removed = try database.transaction { _ throws(AuthError) in try factors.deleteAll(userID: userID) }
        logger.notice(
            "second factors reset", metadata: ["event": "mfa_reset", "user.id": "\(userID)", "mfa.removed": "\(removed)"])
        return removed
    }

    /// The kinds of the user's active factors (`["totp"]`), without reading any secret.
    public func activeKinds(userID: String) throws(AuthError) -> [String] {
        try factors.activeKinds(userID: userID)
    }

    /// Re-seals up to `batchSize` factor secrets after the id `cursor` that another key sealed, under the current
    /// (first) key; each row on its own. Resumable: call again with the returned `next` until it is `nil`. Rows whose
    /// key is not configured any more, or whose box does not open, are counted and left alone.
    public func resealBatch(after cursor: String = "", batchSize: Int = 500) throws(AuthError)
        -> (resealed: Int, unreadable: Int, next: String?)
    {
        guard let keys else { throw AuthError.mfaUnavailable }
        let rows = try factors.sealedUnderOtherKeys(than: keys.currentID, after: cursor, limit: batchSize)
        var resealed = 0
        var unreadable = 0
        for row in rows {
            guard let box = row.secret, let keyID = row.keyID,
                let secret = keys.open(box, keyID: keyID, userID: row.userID, factorID: row.id)
            else {
                unreadable += 1
                logger.error("a factor's secret does not open", metadata: ["event": "mfa_secret_unreadable", "mfa.id": "\(row.id)"])
                continue
            }
            let (newKeyID, newBox) = keys.seal(secret, userID: row.userID, factorID: row.id)
            if try factors.reseal(id: row.id, from: keyID, to: newKeyID, secret: newBox) { resealed += 1 }
        }
        return (resealed, unreadable, rows.count < batchSize ? nil : rows.last?.id)
    }

    /// The step `code` matches for `factor`'s secret, newer than its last used one; `nil` otherwise.
    private func check(_ code: String, _ factor: FactorStore.Factor, _ keys: MFAKeyRing, _ now: Date) throws(AuthError) -> Int64? {
        guard let box = factor.secret, let keyID = factor.keyID,
            let secret = keys.open(box, keyID: keyID, userID: factor.userID, factorID: factor.id)
        else {
            logger.error("a factor's secret does not open", metadata: ["event": "mfa_secret_unreadable", "mfa.id": "\(factor.id)"])
            return nil
        }
        let totp = TOTP(secret: secret, digits: settings.digits, period: settings.period)
        return totp.verify(code, at: now, skew: settings.skew, after: factor.lastStep)
    }

    /// Ten codes of 80 random bits: 16 base32 letters, shown as `xxxx-xxxx-xxxx-xxxx`.
    static func newRecoveryCodes() -> [String] {
        (0..<recoveryCodeCount).map { _ in
            let letters = Array(Base32.encode(Random.bytes(10)).lowercased())
            return stride(from: 0, to: 16, by: 4).map { String(letters[$0..<($0 + 4)]) }.joined(separator: "-")
        }
    }

    /// The stored form of a recovery code: HMAC-SHA-256 under a key derived from an MFA key (a leaked table alone
    /// does not let anyone test guesses; one keyed hash per try, not an Argon2 check per stored code).
    static func digest(ofNormalized code: String, key: MFAKeyRing.Key) -> [UInt8] {
        let macKey = HKDF.sha256(secret: key.secret, salt: [], info: Array("jwt-authd mfa recovery codes v1".utf8))
        return HMAC.authenticate(Array(code.utf8), key: macKey, digest: .sha256)
    }

    /// The digests a new set is stored as.
    static func digests(of codes: [String], key: MFAKeyRing.Key) -> [[UInt8]] {
        codes.map { digest(ofNormalized: normalized($0), key: key) }
    }

    /// A recovery code as typed or shown, in the one form it is hashed in: lower case, no dashes or spaces.
    static func normalized(_ code: String) -> String {
        String(code.lowercased().unicodeScalars.filter { $0 != "-" && $0 != " " })
    }
}

/// One active factor, as the user's list shows it.
public struct FactorInfo: Sendable, Equatable {
    public let id: String
    public let kind: String
    public let name: String?
    public let createdAt: Date
    public let lastUsedAt: Date?

    public init(id: String, kind: String, name: String?, createdAt: Date, lastUsedAt: Date?) {
        self.id = id
        self.kind = kind
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }
}

extension AuthError {
    public static let invalidCode = AuthError(.invalidCode, "Invalid code")
    public static let mfaUnavailable = AuthError(.mfaUnavailable, "Second factors are not set up on this site")
}
