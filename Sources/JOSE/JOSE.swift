/// JOSE: strict JWS and JWT (RFC 7515, 7519, 8725, 9068): key sets (HS256, EdDSA, ES256 from secrets, JWK or PEM),
/// signing, and verification that checks size, encoding, header, algorithm, signature, type and claims in that order.
public enum JOSEModule {}
