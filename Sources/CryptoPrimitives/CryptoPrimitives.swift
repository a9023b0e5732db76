/// CryptoPrimitives: the OpenSSL 3 primitives the service needs, the only importer of `COpenSSL`.
///
/// HMAC-SHA256, Ed25519 and P-256 signing keys, SHA-256, random bytes, constant-time comparison, and
/// ``SecureBytes`` that are wiped when freed.
public enum CryptoPrimitivesModule {}
