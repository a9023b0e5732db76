#!/usr/bin/python3
"""PyJWT side of the jwt-authd interop tests (Debian's python3-jwt 2.6 and python3-cryptography).

    pyjwt_tool.py sign JWK_FILE    < {"claims": {...}, "header": {"typ": "...", "kid": "..."}}
    pyjwt_tool.py verify JWK_FILE  < {"token": "...", "issuer": "...", "audience": "...", "typ": "..."}
    pyjwt_tool.py genkey HS256|EdDSA|ES256 OUT_PRIVATE_JWK OUT_PUBLIC_JWK

sign prints the token. The algorithm is always the JWK's "alg"; the other header members are copied as given, and
a token without "typ" in the request has no typ header (PyJWT would otherwise add "typ": "JWT").

verify pins the algorithm to the JWK's "alg", requires exp, checks iss and aud when given and the header typ when
given, then prints the claims (exit 0), or {"error": "<exception name>: <message>"} (exit 1). The JWK may be private:
its private members are dropped first. PyJWT does not check typ itself: the tool compares the header typ after a
successful verification, as panva/jose does (case-insensitive, an "application/" prefix ignored).

genkey writes a new key pair as JWK files with "alg" and "kid" (the RFC 7638 thumbprint); for HS256 both files hold
the same 32-byte oct key. The private file is created mode 0600.
"""

import base64
import hashlib
import json
import os
import secrets
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

# The members RFC 7638 hashes for a thumbprint, per key type; everything else in a JWK is private or metadata.
PUBLIC_MEMBERS = {"oct": ("k", "kty"), "OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), used as the kid of generated keys."""
    members = {name: jwk[name] for name in PUBLIC_MEMBERS[jwk["kty"]]}
    return b64url(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


def read_jwk(path: str) -> dict:
    with open(path) as file:
        return json.load(file)


def key_for(jwk: dict, public: bool):
    """The cryptography (or bytes, for oct) key PyJWT signs or verifies with; public=True drops private members."""
    if public and jwk["kty"] != "oct":
        jwk = {name: value for name, value in jwk.items() if name != "d"}
    return jwt.PyJWK(jwk, jwk["alg"]).key


def normalize_typ(value: str) -> str:
    return value.lower().removeprefix("application/")


def sign(jwk: dict, request: dict) -> str:
    header = {name: value for name, value in request.get("header", {}).items() if value is not None}
    # typ None makes PyJWT leave typ out; the request's own typ replaces it. alg always comes from the key.
    header = {"typ": None, **header, "alg": jwk["alg"]}
    return jwt.encode(request["claims"], key_for(jwk, public=False), algorithm=jwk["alg"], headers=header)


def verify(jwk: dict, request: dict) -> dict:
    token = request["token"]
    audience = request.get("audience")
    claims = jwt.decode(
        token,
        key_for(jwk, public=True),
        algorithms=[jwk["alg"]],
        issuer=request.get("issuer"),
        audience=audience,
        # PyJWT rejects any token carrying aud when no audience is passed, unless told not to check it.
        options={"require": ["exp"], "verify_aud": audience is not None},
    )
    expected_typ = request.get("typ")
    if expected_typ is not None:
        typ = jwt.get_unverified_header(token).get("typ")
        if not isinstance(typ, str) or normalize_typ(typ) != normalize_typ(expected_typ):
            raise jwt.InvalidTokenError(f'unexpected "typ" header {typ!r}, expected {expected_typ!r}')
    return claims


def generate(alg: str) -> tuple[dict, dict]:
    """A new (private, public) JWK pair for alg."""
    if alg == "HS256":
        private = {"kty": "oct", "k": b64url(secrets.token_bytes(32))}
        public = private
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        public = {"kty": "OKP", "crv": "Ed25519", "x": b64url(x)}
        private = {**public, "d": b64url(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))}
    elif alg == "ES256":
        # Built by hand: PyJWT 2.6's ECAlgorithm.to_jwk drops leading zero bytes, so about 1 key in 100 gets an
        # x, y or d shorter than the 32 bytes RFC 7518 requires, which PyJWT's own from_jwk then rejects.
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        public = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
                  "y": b64url(numbers.y.to_bytes(32, "big"))}
        private = {**public, "d": b64url(key.private_numbers().private_value.to_bytes(32, "big"))}
    else:
        raise SystemExit(f"pyjwt_tool: unsupported algorithm {alg!r} (HS256, EdDSA or ES256)")
    metadata = {"alg": alg, "kid": thumbprint(public)}
    return {**private, **metadata}, {**public, **metadata}


def write_jwk(path: str, jwk: dict, mode: int) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as file:
        json.dump(jwk, file)
        file.write("\n")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else None
    if command == "sign" and len(argv) == 3:
        print(sign(read_jwk(argv[2]), json.load(sys.stdin)))
    elif command == "verify" and len(argv) == 3:
        jwk, request = read_jwk(argv[2]), json.load(sys.stdin)
        try:
            print(json.dumps(verify(jwk, request)))
        except jwt.PyJWTError as error:
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
            return 1
    elif command == "genkey" and len(argv) == 5:
        private, public = generate(argv[2])
        write_jwk(argv[3], private, 0o600)
        write_jwk(argv[4], public, 0o644)
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
