public import FoundationEssentials
public import StrictJSON

/// Claim checks applied to every verified token.
public struct ClaimRules: Sendable {
    /// The required `iss`, or `nil` not to check it.
    public var issuer: String?
    /// The audience that `aud` (a string or an array) must contain, or `nil` not to check it.
    public var audience: String?
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    public var leewaySeconds: Double
    /// Tokens longer than this are refused before any decoding.
    public var maxTokenBytes: Int

    public init(issuer: String? = nil, audience: String? = nil, leewaySeconds: Double = 0, maxTokenBytes: Int = 8192) {
        self.issuer = issuer
        self.audience = audience
        self.leewaySeconds = leewaySeconds
        self.maxTokenBytes = maxTokenBytes
    }
}

/// A token whose signature, type and claims were checked.
public struct VerifiedJWT: Sendable {
    /// The protected header.
    public let header: JSON
    /// The claims (a JSON object).
    public let claims: JSON

    /// A string claim, or `nil` when absent or not a string.
    public func string(_ name: String) -> String? { claims[name]?.stringValue }

    /// A boolean claim, or `nil` when absent or not a boolean.
    public func bool(_ name: String) -> Bool? {
        if case .bool(let value)? = claims[name] { return value }
        return nil
    }

    /// A numeric claim, or `nil` when absent or not a number.
    public func number(_ name: String) -> Double? { claims[name]?.numberValue }
}

/// Signs tokens of one type with a key set's signing key.
public struct JWTSigner: Sendable {
    public let keys: KeySet
    public let type: TokenType

    /// `base64url(header) + "."`, the same for every token: encoded once.
    private let headerPrefix: [UInt8]

    public init(keys: KeySet, type: TokenType) {
        self.keys = keys
        self.type = type
        headerPrefix = Base64URL.encodedBytes(Self.header(of: keys.signingKey, type: type).bytes) + [UInt8(ascii: ".")]
    }

    /// The protected header of tokens signed with `key`: `{"alg", "typ", "kid"}`.
    static func header(of key: JWTKey, type: TokenType) -> JSON {
        var header: [(String, JSON)] = [("alg", .string(key.algorithm.rawValue)), ("typ", .string(type.typ))]
        if let id = key.id { header.append(("kid", .string(id))) }
        return .object(header)
    }

    /// The compact JWS of `claims`, with the header `{"alg", "typ", "kid"}`.
    ///
    /// - Throws: ``JOSEError/invalidKey`` if signing fails.
    public func sign(_ claims: [(String, JSON)]) throws(JOSEError) -> String {
        let key = keys.signingKey
        var input = headerPrefix
        Base64URL.appendEncoded(JSON.object(claims).bytes, to: &input)
        let signature = try key.sign(input)
        input.append(UInt8(ascii: "."))
        Base64URL.appendEncoded(signature, to: &input)
        return String(decoding: input, as: UTF8.self)
    }
}

/// Verifies tokens of one type, strictly (RFC 7515, 7519, 8725).
///
/// Order: size limit; exactly three canonical base64url segments; the header is a JSON object without duplicate
/// names or `crit`; `alg` is one of ``JWSAlgorithm`` and matches the selected key; the signature is checked; then
/// `typ`; only then is the payload decoded; claims are checked last. `jku`, `x5u`, `jwk` and `x5c` are never read.
public struct JWTVerifier: Sendable {
    public let keys: KeySet
    public let type: TokenType
    public let rules: ClaimRules

    /// The header segments ``JWTSigner`` writes with these keys for this type, decoded once: a token that carries
    /// one byte for byte skips decoding and checking its header (the result would be the same), the common case.
    private let knownHeaders: [KnownHeader]

    private struct KnownHeader: Sendable {
        let segment: [UInt8]
        let header: JSON
        let candidates: [JWTKey]
    }

    public init(keys: KeySet, type: TokenType, rules: ClaimRules) {
        self.keys = keys
        self.type = type
        self.rules = rules
        knownHeaders = keys.verificationKeys.compactMap { key in
            guard let candidates = try? keys.candidates(kid: key.id, algorithm: key.algorithm) else { return nil }
            let header = JWTSigner.header(of: key, type: type)
            return KnownHeader(segment: Base64URL.encodedBytes(header.bytes), header: header, candidates: candidates)
        }
    }

    /// Verifies `token` at the time `now`.
    ///
    /// - Throws: ``JOSEError`` with the stable code of the first check that failed.
    public func verify(_ token: String, now: Date) throws(JOSEError) -> VerifiedJWT {
        let bytes = Array(token.utf8)
        guard bytes.count <= rules.maxTokenBytes else { throw JOSEError(.tooLarge, "over \(rules.maxTokenBytes) bytes") }
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else { throw JOSEError(.malformed, "a JWS has exactly three segments") }
        guard firstDot > 0, secondDot > firstDot + 1 else { throw JOSEError(.malformed, "empty header or payload") }

        let header: JSON
        let candidates: [JWTKey]
        let typeChecked: Bool
        if let known = knownHeaders.first(where: { $0.segment.elementsEqual(bytes[..<firstDot]) }) {
            (header, candidates, typeChecked) = (known.header, known.candidates, true)
        } else {
            header = try decodeObject(bytes[..<firstDot], what: "header")
            guard case .string(let algorithmName)? = header["alg"], let algorithm = JWSAlgorithm(rawValue: algorithmName) else {
                throw JOSEError(.unsupportedAlgorithm, "alg is missing or not accepted")
            }
            if header["crit"] != nil { throw JOSEError(.malformed, "no crit extension is understood") }
            var kid: String?
            if let value = header["kid"] {
                guard let text = value.stringValue, text.utf8.count <= 256 else { throw JOSEError(.malformed, "kid must be a short string") }
                kid = text
            }
            candidates = try keys.candidates(kid: kid, algorithm: algorithm)
            typeChecked = false
        }

        guard let signature = Base64URL.decode(bytes[(secondDot + 1)...]) else {
            throw JOSEError(.malformed, "the signature is not canonical base64url")
        }
        let input = bytes[..<secondDot]
        let valid = candidates.contains { $0.isValid(signature: signature, for: input) }
        guard valid else { throw JOSEError(.signatureInvalid) }

        if !typeChecked {
            guard case .string(let typ)? = header["typ"], type.matches(typ) else {
                throw JOSEError(.wrongType, "expected typ \(type.typ)")
            }
        }
        let claims = try decodeObject(bytes[(firstDot + 1)..<secondDot], what: "payload")
        try check(claims, now: now.timeIntervalSince1970)
        return VerifiedJWT(header: header, claims: claims)
    }

    private func decodeObject(_ segment: ArraySlice<UInt8>, what: String) throws(JOSEError) -> JSON {
        guard let decoded = Base64URL.decode(segment) else {
            throw JOSEError(.malformed, "the \(what) is not canonical base64url")
        }
        let value: JSON
        do {
            value = try JSON.parse(decoded, maxDepth: 8)
        } catch {
            throw JOSEError(.malformed, "the \(what) is not strict JSON (\(error.code))")
        }
        guard case .object = value else { throw JOSEError(.malformed, "the \(what) is not a JSON object") }
        return value
    }

    private func numericDate(_ claims: JSON, _ name: String) throws(JOSEError) -> Double? {
        guard let value = claims[name] else { return nil }
        guard let number = value.numberValue, number.isFinite else { throw JOSEError(.malformed, "\(name) must be a number") }
        return number
    }

    private func check(_ claims: JSON, now: Double) throws(JOSEError) {
        let leeway = rules.leewaySeconds
        guard let expiry = try numericDate(claims, "exp") else { throw JOSEError(.malformed, "exp is required") }
        guard now < expiry + leeway else { throw JOSEError(.expired) }
        if let notBefore = try numericDate(claims, "nbf"), now + leeway < notBefore {
            throw JOSEError(.notYetValid, "nbf is in the future")
        }
        if let issuedAt = try numericDate(claims, "iat"), issuedAt > now + leeway {
            throw JOSEError(.notYetValid, "iat is in the future")
        }
        if let issuer = rules.issuer {
            guard claims["iss"]?.stringValue == issuer else { throw JOSEError(.wrongIssuer) }
        }
        if let audience = rules.audience {
            switch claims["aud"] {
            case .string(let single)? where single == audience:
                break
            case .array(let many)? where many.contains(.string(audience)):
                break
            default:
                throw JOSEError(.wrongAudience)
            }
        }
    }
}
