#!/usr/bin/env bash
# JOSE benchmark: sign and verify operations per second on one core, for HS256, EdDSA and ES256, with a
# seed-shaped access token, for jwt-authd and, in the same run, libjwt 1.10 (C), PyJWT 2.6 and panva/jose 4.11.
#
#   bench/jose/run.sh                 # 3 rounds of 2 s per point
#   bench/jose/run.sh --quick         # 1 round of 0.2 s per point (CI: it all runs; rough numbers)
#   bench/jose/run.sh --seconds 5 --rounds 5
#
# Every benchmark process is pinned to CPU $BENCH_CPU (default 1) with taskset, so each library gets one core,
# helper threads included (node's threadpool, where jose's EdDSA and ES256 operations run). Each algorithm gets a
# new key pair (Tests/interop/pyjwt_tool.py genkey), and each run a fresh token valid for 15 minutes. A round runs
# every library on every algorithm once; a point's rate is its median over the rounds, which keeps a noisy
# neighbour on a shared host from deciding a comparison (the table shows each verify rate's spread).
#
#   jwt-authd  "$JWT_AUTHD_BIN" bench-jose --alg ALG --seconds S --key PRIVATE_JWK (default .build/release/jwt-authd;
#              skipped with a note if missing or without that subcommand). It signs and verifies its own token with
#              the server's public verify: signature, typ, exp, nbf, iat, iss and aud.
#   libjwt     bench/jose/libjwt_bench.c (built into .bench-build/): jwt_decode, then alg and exp checked by hand.
#              No EdDSA in 1.10. Its token has typ "JWT", the only typ libjwt 1.10 accepts.
#   pyjwt      bench/jose/pyjwt_bench.py: jwt.decode, algorithm pinned, exp required, iss and aud (no typ check).
#   jose       bench/jose/jose_bench.js: jwtVerify with algorithms, issuer, audience and typ; sequential awaits.
#
# Prints a table (sign/s, verify/s, µs per verify, and jwt-authd's verify rate divided by each library's) and writes
# it to bench/results/jose.csv, with every run's JSON lines, in run order, in bench/results/jose.jsonl. Installs its
# Debian packages if missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$repo/scripts/lib.sh"

seconds=2
rounds=3
while (($#)); do
    case $1 in
        --quick) seconds=0.2 rounds=1 ;;
        --seconds) seconds=${2:?--seconds needs a value}; shift ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
done
cpu=${BENCH_CPU:-1}
bin=${JWT_AUTHD_BIN:-$repo/.build/release/jwt-authd}
python=/usr/bin/python3
interop=$repo/Tests/interop
results=$repo/bench/results

ensure_packages gcc pkg-config libjwt-dev python3 python3-jwt python3-cryptography nodejs node-jose util-linux
taskset -c "$cpu" true 2>/dev/null \
    || die "cannot pin to CPU $cpu (set BENCH_CPU to one of: $(taskset -cp $$ | sed 's/.*: //'))"

state=$(mktemp -d /tmp/jwt-authd-jose-bench.XXXXXX)
trap 'rm -rf "$state"' EXIT
trap 'exit 130' INT TERM

mkdir -p "$repo/.bench-build"
libjwt_bench=$repo/.bench-build/libjwt_bench
gcc -O2 -Wall -Wextra -std=c11 -o "$libjwt_bench" "$repo/bench/jose/libjwt_bench.c" $(pkg-config --cflags --libs libjwt)

declare -A version=(
    [libjwt]=$(dpkg-query -W -f='${Version}' libjwt-dev | sed 's/-.*//')
    [pyjwt]=$("$python" -c 'import jwt; print(jwt.__version__)')
    [jose]=$(node -e "module.paths.push('/usr/share/nodejs'); console.log(require('jose/package.json').version)")
)
# A binary without the subcommand answers `bench-jose --help` with its top-level help, which does not name it.
if [[ -x $bin ]] && "$bin" bench-jose --help 2>&1 | grep -q 'USAGE: jwt-authd bench-jose'; then
    version[jwt-authd]=$("$bin" version | awk '{ print $NF }')
else
    note="no jwt-authd with a bench-jose subcommand at $bin (set JWT_AUTHD_BIN): its rows are skipped"
    say "$note"
fi

# json_field FILE NAME: a top-level string member of a JSON file.
json_field() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# make_token ALG TYP: a seed-shaped access token signed with ALG's private JWK, valid for 15 minutes, in $state/token.
make_token() {
    local now uuids
    now=$(date +%s)
    uuids=("$(</proc/sys/kernel/random/uuid)" "$(</proc/sys/kernel/random/uuid)" "$(</proc/sys/kernel/random/uuid)")
    printf '{"claims": {"sub": "%s", "email": "a@example.com", "role": "user", "sid": "%s", "jti": "%s",
             "iss": "jwt-authd", "aud": "jwt-authd", "iat": %d, "exp": %d}, "header": {"typ": "%s", "kid": "%s"}}' \
        "${uuids[@]}" "$now" $((now + 900)) "$2" "$(json_field "$state/$1.private.jwk" kid)" \
        | "$python" "$interop/pyjwt_tool.py" sign "$state/$1.private.jwk" >"$state/token"
}

# libjwt_keys ALG: the key files libjwt reads, from ALG's private JWK: the raw secret for HS256, PEM for ES256.
libjwt_keys() {
    "$python" - "$1" "$state" <<'EOF'
import json, sys
import jwt
from cryptography.hazmat.primitives import serialization as s

alg, state = sys.argv[1:]
key = jwt.PyJWK(json.load(open(f"{state}/{alg}.private.jwk")), alg).key
if alg == "HS256":
    open(f"{state}/{alg}.secret", "wb").write(key)
else:
    open(f"{state}/{alg}.private.pem", "wb").write(
        key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    open(f"{state}/{alg}.public.pem", "wb").write(
        key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
EOF
}

# bench LIB ALG: one run of LIB's benchmark for ALG on the pinned CPU, its JSON lines appended to jose.jsonl.
bench() {
    local lib=$1 alg=$2 key=$state/$2.private.jwk command libjwt_keys=("$state/$2.secret" "$state/$2.secret")
    case $lib in
        jwt-authd) command=("$bin" bench-jose --alg "$alg" --key "$key") ;;
        libjwt)
            make_token "$alg" JWT
            [[ $alg == ES256 ]] && libjwt_keys=("$state/$alg.private.pem" "$state/$alg.public.pem")
            command=("$libjwt_bench" --alg "$alg" --sign-key "${libjwt_keys[0]}" --verify-key "${libjwt_keys[1]}"
                --token "$state/token" --kid "$(json_field "$key" kid)")
            ;;
        pyjwt)
            make_token "$alg" at+jwt
            command=("$python" "$repo/bench/jose/pyjwt_bench.py" --alg "$alg" --key "$key" --token "$state/token")
            ;;
        jose)
            make_token "$alg" at+jwt
            command=(node "$repo/bench/jose/jose_bench.js" --alg "$alg" --key "$key" --token "$state/token")
            ;;
    esac
    taskset -c "$cpu" "${command[@]}" --seconds "$seconds" >>"$results/jose.jsonl"
}

mkdir -p "$results"
: >"$results/jose.jsonl"
libs=(libjwt pyjwt jose)
[[ -v version[jwt-authd] ]] && libs=(jwt-authd "${libs[@]}")
for alg in HS256 EdDSA ES256; do
    "$python" "$interop/pyjwt_tool.py" genkey "$alg" "$state/$alg.private.jwk" "$state/$alg.public.jwk"
    [[ $alg == EdDSA ]] || libjwt_keys "$alg"
done
for ((round = 1; round <= rounds; round++)); do
    for alg in HS256 EdDSA ES256; do
        for lib in "${libs[@]}"; do
            [[ $lib == libjwt && $alg == EdDSA ]] && continue # libjwt 1.10 has no EdDSA
            say "round $round/$rounds: $alg $lib"
            bench "$lib" "$alg"
        done
    done
done

# --- report --------------------------------------------------------------------------------------------------------
versions=$(for lib in "${!version[@]}"; do printf '%s=%s\n' "$lib" "${version[$lib]}"; done)
"$python" - "$results/jose.jsonl" "$results/jose.csv" "$versions" "$rounds" <<'EOF'
import collections, csv, json, statistics, sys

results_path, csv_path, versions, rounds = sys.argv[1:]
version = dict(line.split("=", 1) for line in versions.splitlines())
rates = collections.defaultdict(list)  # (lib, alg, op) -> per-round operations per second
for line in open(results_path):
    result = json.loads(line)
    rates[result["lib"], result["alg"], result["op"]].append(result["per_second"])
rate = {point: statistics.median(values) for point, values in rates.items()}

rows = []
for alg in ("HS256", "EdDSA", "ES256"):
    authd = rate.get(("jwt-authd", alg, "verify"))
    for lib in ("jwt-authd", "libjwt", "pyjwt", "jose"):
        if (lib, alg, "verify") not in rate:
            continue
        verify = rate[lib, alg, "verify"]
        spread = (max(rates[lib, alg, "verify"]) - min(rates[lib, alg, "verify"])) / 2 / verify
        rows.append({
            "lib": lib, "version": version[lib], "alg": alg, "rounds": rounds,
            "sign_per_second": round(rate[lib, alg, "sign"]), "verify_per_second": round(verify),
            "us_per_verify": f"{1e6 / verify:.2f}", "verify_spread_percent": f"{spread * 100:.1f}",
            "jwt_authd_verify_ratio": f"{authd / verify:.2f}" if authd else "",
        })

with open(csv_path, "w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

print(f"\n{'lib':<16} {'alg':<6} {'sign/s':>9} {'verify/s':>9} {'µs/verify':>10} {'± verify':>9} "
      f"{'jwt-authd ÷ lib':>16}")
for row in rows:
    print(f"{row['lib'] + ' ' + row['version']:<16} {row['alg']:<6} {row['sign_per_second']:>9} "
          f"{row['verify_per_second']:>9} {row['us_per_verify']:>10} {row['verify_spread_percent'] + '%':>9} "
          f"{row['jwt_authd_verify_ratio'] or '-':>16}")
print(f"\nwritten to {csv_path}")
EOF
echo "one core (CPU $cpu of $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')):" \
    "median of $rounds round(s) of $seconds s per point; ± is half the verify rate's range over the rounds."
echo "verify checks: jwt-authd signature, typ, exp, nbf, iat, iss, aud; libjwt signature, typ \"JWT\" (its only one),"
echo "alg and exp; pyjwt signature, exp, nbf, iat, iss, aud (no typ); jose the same plus typ (sequential awaits)."
echo "libjwt 1.10 has no EdDSA."
[[ -v note ]] && echo "$note"
exit 0
