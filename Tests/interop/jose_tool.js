#!/usr/bin/node
// panva/jose side of the jwt-authd interop tests (Debian's node-jose 4.11), with the same CLI as pyjwt_tool.py:
//
//   node jose_tool.js sign JWK_FILE    < {"claims": {...}, "header": {"typ": "...", "kid": "..."}}
//   node jose_tool.js verify JWK_FILE  < {"token": "...", "issuer": "...", "audience": "...", "typ": "..."}
//   node jose_tool.js genkey HS256|EdDSA|ES256 OUT_PRIVATE_JWK OUT_PUBLIC_JWK
//
// sign prints the token; the algorithm is always the JWK's "alg", the other header members are copied as given.
// verify pins the algorithm to the JWK's "alg", requires exp, checks iss and aud when given and the header typ when
// given (jose compares typ case-insensitively and ignores an "application/" prefix), then prints the claims (exit 0)
// or {"error": "<error name>: <message>"} (exit 1). The JWK may be private: its private member is dropped first, so
// the token is checked with the public key alone, as any other verifier holds it. genkey writes a new key pair as JWK
// files with "alg" and "kid" (the RFC 7638 thumbprint); for HS256 both files hold the same 32-byte oct key. The
// private file is created with mode 0600.
//
// CommonJS rather than an ES module: Debian installs jose under /usr/share/nodejs, which only Debian's own node
// searches. Adding that folder to this module's require paths finds it under any node (NodeSource's, say) without
// NODE_PATH, which ES module imports would ignore anyway.
'use strict';

const fs = require('fs');

module.paths.push('/usr/share/nodejs');
const jose = require('jose');

const USAGE = `usage:
  jose_tool.js sign JWK_FILE    < {"claims": {...}, "header": {"typ": "...", "kid": "..."}}
  jose_tool.js verify JWK_FILE  < {"token": "...", "issuer": "...", "audience": "...", "typ": "..."}
  jose_tool.js genkey HS256|EdDSA|ES256 OUT_PRIVATE_JWK OUT_PUBLIC_JWK`;

const readJSON = (path) => JSON.parse(fs.readFileSync(path, 'utf8'));

// The key jose signs or verifies with; publicOnly drops the private member of an OKP or EC key.
function keyFor(jwk, { publicOnly }) {
  if (publicOnly && jwk.kty !== 'oct') {
    jwk = Object.fromEntries(Object.entries(jwk).filter(([name]) => name !== 'd'));
  }
  return jose.importJWK(jwk, jwk.alg);
}

async function sign(jwk, request) {
  const header = Object.fromEntries(Object.entries(request.header || {}).filter(([, value]) => value != null));
  return new jose.SignJWT(request.claims)
    .setProtectedHeader({ ...header, alg: jwk.alg })
    .sign(await keyFor(jwk, { publicOnly: false }));
}

async function verify(jwk, request) {
  const options = { algorithms: [jwk.alg] };
  if (request.issuer != null) options.issuer = request.issuer;
  if (request.audience != null) options.audience = request.audience;
  if (request.typ != null) options.typ = request.typ;
  const { payload } = await jose.jwtVerify(request.token, await keyFor(jwk, { publicOnly: true }), options);
  // jose 4.11 checks exp only when present (its requiredClaims option came later).
  if (payload.exp === undefined) {
    throw new jose.errors.JWTClaimValidationFailed('missing required "exp" claim', 'exp', 'missing');
  }
  return payload;
}

// A new [private, public] JWK pair for alg, both with alg and kid.
async function generate(alg) {
  let privateJwk;
  let publicJwk;
  if (alg === 'HS256') {
    privateJwk = await jose.exportJWK(await jose.generateSecret(alg));
    publicJwk = privateJwk;
  } else if (alg === 'EdDSA' || alg === 'ES256') {
    // EdDSA defaults to Ed25519, ES256 to P-256.
    const { privateKey, publicKey } = await jose.generateKeyPair(alg);
    privateJwk = await jose.exportJWK(privateKey);
    publicJwk = await jose.exportJWK(publicKey);
  } else {
    throw new Error(`unsupported algorithm ${JSON.stringify(alg)} (HS256, EdDSA or ES256)`);
  }
  const metadata = { alg, kid: await jose.calculateJwkThumbprint(publicJwk) };
  return [{ ...privateJwk, ...metadata }, { ...publicJwk, ...metadata }];
}

async function main([command, ...args]) {
  if (command === 'sign' && args.length === 1) {
    console.log(await sign(readJSON(args[0]), JSON.parse(fs.readFileSync(0, 'utf8'))));
  } else if (command === 'verify' && args.length === 1) {
    const jwk = readJSON(args[0]);
    const request = JSON.parse(fs.readFileSync(0, 'utf8'));
    try {
      console.log(JSON.stringify(await verify(jwk, request)));
    } catch (error) {
      if (!(error instanceof jose.errors.JOSEError)) throw error;
      console.log(JSON.stringify({ error: `${error.name}: ${error.message}` }));
      return 1;
    }
  } else if (command === 'genkey' && args.length === 3) {
    const [privateJwk, publicJwk] = await generate(args[0]);
    fs.writeFileSync(args[1], `${JSON.stringify(privateJwk)}\n`, { mode: 0o600 });
    fs.writeFileSync(args[2], `${JSON.stringify(publicJwk)}\n`, { mode: 0o644 });
  } else {
    console.error(USAGE);
    return 2;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (error) => { console.error(`jose_tool: ${error.stack || error}`); process.exitCode = 1; },
);
