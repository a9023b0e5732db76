#!/usr/bin/node
// panva/jose sign and verify rates for one algorithm (Debian's node-jose 4.11).
//
//   node jose_bench.js --alg HS256|EdDSA|ES256 --key PRIVATE_JWK --token TOKEN_FILE [--seconds 2]
//
// sign:   new SignJWT(the token's claims).setProtectedHeader({alg, typ: "at+jwt", kid: <the key's kid>}).sign(key)
// verify: jwtVerify(token, public key, {algorithms: [alg], issuer, audience: "jwt-authd", typ: "at+jwt"}), which
//         also checks exp/nbf/iat, plus the exp presence check jose 4.11 has no option for.
// jose's API is asynchronous: the rate is that of sequential awaited calls, one at a time, as one request handler
// would make them (no concurrency). For EdDSA and ES256 jose calls node's crypto.sign/verify with a callback, which
// runs them on libuv's threadpool: every call is a hand-off to another thread (on the same core under run.sh).
// Keys are imported once, before timing. Each operation runs for a tenth of --seconds to warm up (and let V8
// optimise), then in a loop for --seconds; prints one JSON line per operation:
//   {"lib":"jose","alg":"HS256","op":"verify","per_second":N,"us_per_op":X}
// CommonJS, like Tests/interop/jose_tool.js, to find Debian's jose under /usr/share/nodejs from any node.
'use strict';

const fs = require('fs');
const { parseArgs } = require('util');

module.paths.push('/usr/share/nodejs');
const jose = require('jose');

const ISSUER = 'jwt-authd';
const AUDIENCE = 'jwt-authd';

// Awaits operation() for `seconds` after a warm-up of a tenth of that; returns [calls, elapsed seconds].
async function rate(operation, seconds) {
  let calls;
  let elapsed;
  for (const measured of [seconds / 10, seconds]) {
    calls = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(measured * 1e9));
    let now;
    do {
      await operation();
      calls += 1;
      now = process.hrtime.bigint();
    } while (now < deadline);
    elapsed = Number(now - start) / 1e9;
  }
  return [calls, elapsed];
}

function report(alg, op, [calls, elapsed]) {
  const line = {
    lib: 'jose',
    alg,
    op,
    per_second: Math.round(calls / elapsed),
    us_per_op: Number(((elapsed / calls) * 1e6).toFixed(3)),
  };
  console.log(JSON.stringify(line));
}

async function main() {
  const { values } = parseArgs({
    options: {
      alg: { type: 'string' },
      key: { type: 'string' },
      token: { type: 'string' },
      seconds: { type: 'string', default: '2' },
    },
  });
  const { alg, key: keyFile, token: tokenFile } = values;
  const seconds = Number(values.seconds);
  if (!['HS256', 'EdDSA', 'ES256'].includes(alg) || !keyFile || !tokenFile || !(seconds > 0)) {
    throw new Error('usage: jose_bench.js --alg HS256|EdDSA|ES256 --key PRIVATE_JWK --token TOKEN_FILE [--seconds S]');
  }

  const jwk = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const signingKey = await jose.importJWK(jwk, alg);
  // Verify with the public key alone, as a verifier holds it: the private JWK without "d".
  const verifyingKey = alg === 'HS256'
    ? signingKey
    : await jose.importJWK(Object.fromEntries(Object.entries(jwk).filter(([name]) => name !== 'd')), alg);
  const header = { alg, typ: 'at+jwt', kid: jwk.kid };
  const options = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' };

  const verify = async () => {
    const { payload } = await jose.jwtVerify(token, verifyingKey, options);
    if (payload.exp === undefined) throw new Error('token has no exp');
    return payload;
  };
  const claims = await verify(); // fails loudly, before any timing, if the token or key is wrong
  const sign = () => new jose.SignJWT(claims).setProtectedHeader(header).sign(signingKey);

  report(alg, 'sign', await rate(sign, seconds));
  report(alg, 'verify', await rate(verify, seconds));
}

main().catch((error) => {
  console.error(`jose_bench: ${error.message}`);
  process.exitCode = 1;
});
