/// Why a token was refused or a key could not be used. The stable `code` is what callers branch on and what
/// clients may see; the message never contains token text or key material.
public struct JOSEError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }

        public static let malformed = Code("malformed")
        public static let unsupportedAlgorithm = Code("unsupported_algorithm")
        public static let signatureInvalid = Code("signature_invalid")
        public static let expired = Code("expired")
        public static let notYetValid = Code("not_yet_valid")
        public static let wrongType = Code("wrong_type")
        public static let wrongIssuer = Code("wrong_issuer")
        public static let wrongAudience = Code("wrong_audience")
        public static let tooLarge = Code("too_large")
        /// A key (file, JWK, secret) that cannot be used.
        public static let invalidKey = Code("invalid_key")

        public var description: String { name }
    }

    public let code: Code
    /// A short reason for logs (never secret).
    public let reason: String

    public init(_ code: Code, _ reason: String = "") {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: JOSEError, rhs: JOSEError) -> Bool { lhs.code == rhs.code }

    public static let malformed = JOSEError(.malformed)
    public static let unsupportedAlgorithm = JOSEError(.unsupportedAlgorithm)
    public static let signatureInvalid = JOSEError(.signatureInvalid)
    public static let expired = JOSEError(.expired)
    public static let notYetValid = JOSEError(.notYetValid)
    public static let wrongType = JOSEError(.wrongType)
    public static let wrongIssuer = JOSEError(.wrongIssuer)
    public static let wrongAudience = JOSEError(.wrongAudience)
    public static let tooLarge = JOSEError(.tooLarge)
    public static let invalidKey = JOSEError(.invalidKey)

    public var description: String { reason.isEmpty ? "token \(code)" : "token \(code): \(reason)" }
}
