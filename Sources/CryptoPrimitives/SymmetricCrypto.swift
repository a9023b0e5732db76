import COpenSSL

/// HMAC with the digests an authenticator app may use (TOTP, RFC 6238), by OpenSSL.
public enum HMAC {
    public enum Digest: String, Sendable, CaseIterable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"

        /// The MAC's length in bytes.
        public var length: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            case .sha512: 64
            }
        }
    }

    /// The MAC of `message` under `key`.
    public static func authenticate(_ message: [UInt8], key: SecureBytes, digest: Digest) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        var length = 0
        let ok = key.withUnsafeBytes { keyBytes in
            out.withUnsafeMutableBufferPointer { output in
                COpenSSL_hmac(
                    digest.rawValue, keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), keyBytes.count, message,
                    message.count, output.baseAddress, &length)
            }
        }
        precondition(ok == 1 && length == digest.length, "HMAC-\(digest.rawValue) failed")
        return Array(out.prefix(length))
    }
}

/// AES-256-GCM (authenticated encryption) with a random 96-bit nonce: what encrypts secrets at rest.
public enum AESGCM {
    /// Bytes a sealed box adds to its plaintext: the nonce (12) and the tag (16).
    public static let overhead = 28

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext` under the 32-byte `key`, authenticating `additionalData` too.
    public static func seal(_ plaintext: SecureBytes, key: SecureBytes, additionalData: [UInt8]) -> [UInt8] {
        precondition(key.count == 32, "AES-256-GCM needs a 32-byte key")
        let nonce = Random.bytes(12)
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        var tag = [UInt8](repeating: 0, count: 16)
        let ok = key.withUnsafeBytes { keyBytes in
            plaintext.withUnsafeBytes { input in
                ciphertext.withUnsafeMutableBufferPointer { output in
                    COpenSSL_aes256gcm(
                        1, keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce, additionalData,
                        additionalData.count, input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                        output.baseAddress, &tag)
                }
            }
        }
        precondition(ok == 1, "AES-256-GCM sealing failed")
        return nonce + ciphertext + tag
    }

    /// The plaintext of a sealed box, or `nil` when the key, the additional data or any byte of the box is not the
    /// one it was sealed with.
    public static func open(_ box: [UInt8], key: SecureBytes, additionalData: [UInt8]) -> SecureBytes? {
        guard key.count == 32, box.count >= overhead else { return nil }
        let nonce = Array(box.prefix(12))
        let ciphertext = Array(box[12..<(box.count - 16)])
        var tag = Array(box.suffix(16))
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        let ok = key.withUnsafeBytes { keyBytes in
            plaintext.withUnsafeMutableBufferPointer { output in
                COpenSSL_aes256gcm(
                    0, keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce, additionalData, additionalData.count,
                    ciphertext, ciphertext.count, output.baseAddress, &tag)
            }
        }
        return ok == 1 ? SecureBytes(plaintext) : nil
    }
}
