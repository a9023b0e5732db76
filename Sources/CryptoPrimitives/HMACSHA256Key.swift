import COpenSSL

/// An HMAC-SHA256 key whose padded inner and outer states are computed once, then reused for every message.
///
/// Safe to use from many threads at once: each call copies the precomputed states into its own context.
public final class HMACSHA256Key: @unchecked Sendable {
    // @unchecked Sendable: the C states are written once in init and only copied (read) afterwards.
    private let key: UnsafeMutablePointer<COpenSSL_hmac_key>

    /// Sets up the key.
    public init(secret: SecureBytes) {
        let made = secret.withUnsafeBytes {
            COpenSSL_hmac_sha256_new($0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count)
        }
        guard let made else { preconditionFailure("HMAC-SHA256 key setup failed (out of memory)") }
        key = made
    }

    deinit { COpenSSL_hmac_sha256_free(key) }

    /// The 32-byte MAC of `message`.
    public func authenticationCode(for message: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = out.withUnsafeMutableBufferPointer { mac in
            COpenSSL_hmac_sha256(key, message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, mac.baseAddress)
        }
        precondition(ok == 1, "HMAC-SHA256 failed")
        return out
    }

    /// The MAC of a byte array.
    public func authenticationCode(for message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { authenticationCode(for: $0) }
    }

    /// Whether `code` is the MAC of `message`, compared in constant time.
    public func isValid(_ code: [UInt8], for message: UnsafeRawBufferPointer) -> Bool {
        ConstantTime.equals(authenticationCode(for: message), code)
    }

    /// Whether `code` is the MAC of `message`, compared in constant time.
    public func isValid(_ code: [UInt8], for message: ArraySlice<UInt8>) -> Bool {
        message.withUnsafeBytes { isValid(code, for: $0) }
    }
}
