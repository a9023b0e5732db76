#!/usr/bin/python3
"""PyJWT sign and verify rates for one algorithm (Debian's python3-jwt 2.6 with python3-cryptography).

    pyjwt_bench.py --alg HS256|EdDSA|ES256 --key PRIVATE_JWK --token TOKEN_FILE [--seconds 2]

sign:   jwt.encode of the token's claims with header {"typ": "at+jwt", "kid": <the key's kid>}.
verify: jwt.decode of the token with the algorithm pinned, exp required, iss and aud checked ("jwt-authd"), and
        PyJWT's own exp/nbf/iat checks, with the public half of the key; PyJWT does not check typ.
Keys are parsed once, before timing, as a server would. Each operation runs for a tenth of --seconds to warm up,
then in a loop for --seconds; prints one JSON line per operation:
    {"lib": "pyjwt", "alg": "HS256", "op": "verify", "per_second": N, "us_per_op": X}
"""

import argparse
import json
import sys
import time

import jwt

ISSUER = AUDIENCE = "jwt-authd"


def rate(operation, seconds: float) -> tuple[int, float]:
    """Calls operation() for `seconds` after a warm-up of a tenth of that; returns (calls, elapsed seconds)."""
    for measured in (seconds / 10, seconds):
        calls = 0
        start = time.perf_counter()
        deadline = start + measured
        while True:
            operation()
            calls += 1
            now = time.perf_counter()
            if now >= deadline:
                break
    return calls, now - start


def report(alg: str, op: str, calls: int, elapsed: float) -> None:
    line = {"lib": "pyjwt", "alg": alg, "op": op, "per_second": round(calls / elapsed),
            "us_per_op": round(elapsed / calls * 1e6, 3)}
    print(json.dumps(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alg", required=True, choices=("HS256", "EdDSA", "ES256"))
    parser.add_argument("--key", required=True, help="private JWK file (for HS256, the oct key)")
    parser.add_argument("--token", required=True, help="file holding a seed-shaped access token signed with --key")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    with open(args.key) as file:
        jwk = json.load(file)
    with open(args.token) as file:
        token = file.read().strip()
    signing_key = jwt.PyJWK(jwk, args.alg).key
    verifying_key = signing_key if args.alg == "HS256" else signing_key.public_key()
    header = {"typ": "at+jwt", "kid": jwk["kid"]}

    def verify() -> dict:
        return jwt.decode(token, verifying_key, algorithms=[args.alg], issuer=ISSUER, audience=AUDIENCE,
                          options={"require": ["exp"]})

    claims = verify()  # fails loudly, before any timing, if the token or key is wrong

    def sign() -> str:
        return jwt.encode(claims, signing_key, algorithm=args.alg, headers=header)

    report(args.alg, "sign", *rate(sign, args.seconds))
    report(args.alg, "verify", *rate(verify, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
