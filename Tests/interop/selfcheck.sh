#!/usr/bin/env bash
# Cross-checks the two interop tools against each other, for HS256, EdDSA and ES256:
#   - PyJWT signs with a key PyJWT generated, jose verifies it with the public JWK, and the reverse;
#   - the same tokens with the payload changed (role "user" -> "admin", signature kept) fail in both tools.
#
#   Tests/interop/selfcheck.sh
#
# Needs /usr/bin/python3 with python3-jwt and python3-cryptography, and node with Debian's node-jose.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
keys=$(mktemp -d /tmp/jwt-authd-interop.XXXXXX)
trap 'rm -rf "$keys"' EXIT

pyjwt() { /usr/bin/python3 "$here/pyjwt_tool.py" "$@"; }
jose() { node "$here/jose_tool.js" "$@"; }

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: runs COMMAND, counts and reports the outcome.
    local description=$1 output
    shift
    if output=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok      $description"
    else
        failed=$((failed + 1))
        echo "FAILED  $description: $output"
    fi
}

# sign_request: a seed-shaped access token's claims and header, valid for 15 minutes from now.
sign_request() {
    local now
    now=$(date +%s)
    printf '{"claims": {"sub": "%s", "email": "a@example.com", "role": "user", "sid": "%s", "jti": "%s",' \
        "$(</proc/sys/kernel/random/uuid)" "$(</proc/sys/kernel/random/uuid)" "$(</proc/sys/kernel/random/uuid)"
    printf ' "iss": "jwt-authd", "aud": "jwt-authd", "iat": %d, "exp": %d}, "header": {"typ": "at+jwt"}}' \
        "$now" $((now + 900))
}

verify_request() { # verify_request TOKEN
    printf '{"token": "%s", "issuer": "jwt-authd", "audience": "jwt-authd", "typ": "at+jwt"}' "$1"
}

# tamper TOKEN: the same header and signature over a payload whose role is "admin".
tamper() {
    /usr/bin/python3 -c '
import base64, json, sys
header, payload, signature = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
claims["role"] = "admin"
payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
print(".".join((header, payload, signature)))' "$1"
}

# accepts VERIFIER PUBLIC_JWK TOKEN / rejects VERIFIER PUBLIC_JWK TOKEN
accepts() { verify_request "$3" | "$1" verify "$2" >/dev/null; }
rejects() {
    local output
    if output=$(verify_request "$3" | "$1" verify "$2"); then
        echo "accepted: $output"
        return 1
    fi
    [[ $output == '{"error":'* ]] || { echo "no error object: $output"; return 1; }
}

for alg in HS256 EdDSA ES256; do
    for signer in pyjwt jose; do
        verifier=jose
        [[ $signer == jose ]] && verifier=pyjwt
        "$signer" genkey "$alg" "$keys/$signer-$alg.private.jwk" "$keys/$signer-$alg.public.jwk"
        token=$(sign_request | "$signer" sign "$keys/$signer-$alg.private.jwk")
        bad=$(tamper "$token")
        check "$alg: $signer signs, $verifier verifies" accepts "$verifier" "$keys/$signer-$alg.public.jwk" "$token"
        check "$alg: $signer's token with a changed payload fails in $verifier" \
            rejects "$verifier" "$keys/$signer-$alg.public.jwk" "$bad"
        check "$alg: $signer's token with a changed payload fails in $signer" \
            rejects "$signer" "$keys/$signer-$alg.public.jwk" "$bad"
    done
done

echo "$passed passed, $failed failed"
((failed == 0))
