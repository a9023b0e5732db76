#!/usr/bin/python3
"""Independent check of spec-vectors.json (the W3C WebAuthn Level 3 "Test Vectors").

Re-derives every field of every vector from the raw hex blobs and verifies every
signature with `cryptography`, using `fido2` (0.9.1, Debian's python3-fido2) only to
parse CBOR / authenticator data. Prints one line per vector; exits 1 if any check fails.

    /usr/bin/python3 check_spec_vectors.py [path/to/spec-vectors.json]
"""

import base64
import datetime
import hashlib
import json
import os
import re
import struct
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fido2 import cbor
from fido2.ctap2 import AttestationObject, AuthenticatorData

HEX = re.compile(r"^[0-9a-f]*$")
FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT, FLAG_ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
OID_ANDROID_KEY = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")
OID_APPLE_NONCE = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
OID_TCG_KP_AIK = x509.ObjectIdentifier("2.23.133.8.3")


class Fail(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Fail(what)


def sha256(b):
    return hashlib.sha256(b).digest()


def b64url_decode(s):
    need(re.fullmatch(r"[A-Za-z0-9_-]*", s) is not None, "challenge is not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def is_canonical(blob):
    """CTAP2 canonical CBOR: decoding and re-encoding with fido2.cbor gives the same bytes."""
    try:
        return cbor.encode(cbor.decode(blob)) == blob
    except Exception:
        return False


# --- COSE keys -------------------------------------------------------------------------------

EC_CURVES = {1: (ec.SECP256R1(), 32), 2: (ec.SECP384R1(), 48), 3: (ec.SECP521R1(), 66)}
EC_ALGS = {-7: (1, hashes.SHA256()), -35: (2, hashes.SHA384()), -36: (3, hashes.SHA512())}
# -8 EdDSA (curve from crv), -19 Ed25519 and -53 Ed448 (RFC 9864 fully specified)
OKP_ALGS = {-8: (6, 7), -19: (6,), -53: (7,)}
RSA_ALGS = {-257: hashes.SHA256(), -258: hashes.SHA384(), -259: hashes.SHA512()}


def cose_to_key(cose):
    """COSE_Key map -> (cryptography public key, alg). Strict about the parameters present."""
    kty, alg = cose.get(1), cose.get(3)
    if kty == 2:
        need(set(cose) == {1, 3, -1, -2, -3}, "EC2 COSE key has unexpected parameters %r" % sorted(cose))
        need(alg in EC_ALGS and EC_ALGS[alg][0] == cose[-1], "EC2 alg %r / crv %r mismatch" % (alg, cose[-1]))
        curve, size = EC_CURVES[cose[-1]]
        need(len(cose[-2]) == size and len(cose[-3]) == size, "EC2 coordinate length")
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big"), curve)
        return nums.public_key(), alg  # raises if the point is not on the curve
    if kty == 1:
        need(set(cose) == {1, 3, -1, -2}, "OKP COSE key has unexpected parameters %r" % sorted(cose))
        need(alg in OKP_ALGS and cose[-1] in OKP_ALGS[alg], "OKP alg %r / crv %r mismatch" % (alg, cose[-1]))
        if cose[-1] == 6:
            need(len(cose[-2]) == 32, "Ed25519 key length")
            return ed25519.Ed25519PublicKey.from_public_bytes(cose[-2]), alg
        need(len(cose[-2]) == 57, "Ed448 key length")
        return ed448.Ed448PublicKey.from_public_bytes(cose[-2]), alg
    if kty == 3:
        need(set(cose) == {1, 3, -1, -2}, "RSA COSE key has unexpected parameters %r" % sorted(cose))
        need(alg in RSA_ALGS, "RSA alg %r" % alg)
        return rsa.RSAPublicNumbers(int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-1], "big")).public_key(), alg
    raise Fail("unsupported COSE kty %r" % kty)


def verify(key, alg, sig, data):
    """Verify a WebAuthn signature (ECDSA: ASN.1 DER; EdDSA: raw; RSA: PKCS#1 v1.5)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            need(alg in EC_ALGS, "alg %r is not an ECDSA algorithm" % alg)
            key.verify(sig, data, ec.ECDSA(EC_ALGS[alg][1]))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            need(alg in OKP_ALGS, "alg %r is not an EdDSA algorithm" % alg)
            key.verify(sig, data)
        elif isinstance(key, rsa.RSAPublicKey):
            need(alg in RSA_ALGS, "alg %r is not an RSA algorithm" % alg)
            key.verify(sig, data, padding.PKCS1v15(), RSA_ALGS[alg])
        else:
            raise Fail("unsupported key type")
    except InvalidSignature:
        raise Fail("signature does not verify")


def same_public_key(a, b):
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


# --- authenticator data (parsed by hand and cross-checked with fido2) ----------------------------

def parse_auth_data(raw):
    need(len(raw) >= 37, "authenticator data shorter than 37 bytes")
    out = {"raw": raw, "rpIdHash": raw[:32], "flags": raw[32], "signCount": struct.unpack(">I", raw[33:37])[0]}
    rest = raw[37:]
    if out["flags"] & FLAG_AT:
        need(len(rest) >= 18, "attested credential data truncated")
        out["aaguid"] = rest[:16]
        (n,) = struct.unpack(">H", rest[16:18])
        need(n <= 1023, "credential id longer than 1023 bytes")
        out["credentialId"] = rest[18:18 + n]
        need(len(out["credentialId"]) == n, "credential id truncated")
        after = rest[18 + n:]
        _, tail = cbor.decode_from(after)
        out["coseRaw"] = after[:len(after) - len(tail)]
        rest = tail
    if out["flags"] & FLAG_ED:
        _, tail = cbor.decode_from(rest)
        out["extensionsRaw"] = rest[:len(rest) - len(tail)]
        rest = tail
    need(rest == b"", "%d trailing bytes after authenticator data" % len(rest))

    lib = AuthenticatorData(raw)  # fido2's own parse must agree
    need(lib.rp_id_hash == out["rpIdHash"] and lib.flags == out["flags"] and lib.counter == out["signCount"],
         "fido2 AuthenticatorData disagrees with the manual parse")
    if out["flags"] & FLAG_AT:
        need(lib.credential_data.aaguid == out["aaguid"] and lib.credential_data.credential_id == out["credentialId"],
             "fido2 AttestedCredentialData disagrees with the manual parse")
        need(dict(lib.credential_data.public_key) == cbor.decode(out["coseRaw"]), "fido2 COSE key disagrees")
    return out


def check_auth_data(v, ad, kind):
    need(ad["rpIdHash"] == sha256(v["rpId"].encode()), "rpIdHash != SHA-256(rpId)")
    need(ad["flags"] == v["flags"], "flags byte 0x%02x != recorded 0x%02x" % (ad["flags"], v["flags"]))
    need(ad["flags"] & FLAG_UP, "UP not set")
    need(bool(ad["flags"] & FLAG_UV) == v["userVerified"], "userVerified mismatch")
    need(bool(ad["flags"] & FLAG_BE) == v["backupEligible"], "backupEligible mismatch")
    need(bool(ad["flags"] & FLAG_BS) == v["backupState"], "backupState mismatch")
    need(not (ad["flags"] & FLAG_BS) or ad["flags"] & FLAG_BE, "BS set without BE")
    need(ad["flags"] & 0x22 == 0, "reserved flag bits set")
    need(ad["signCount"] == v["signCount"], "signCount mismatch")
    need(bool(ad["flags"] & FLAG_AT) == (kind == "registration"), "AT flag wrong for a %s" % kind)


def check_client_data(v, kind):
    raw = bytes.fromhex(v["clientDataJSON"])
    cd = json.loads(raw.decode("utf-8"))
    need(cd.get("type") == {"registration": "webauthn.create", "assertion": "webauthn.get"}[kind], "clientData type")
    need(b64url_decode(cd["challenge"]) == bytes.fromhex(v["challenge"]), "clientData challenge != challenge")
    need(cd.get("origin") == v["origin"], "clientData origin")
    need(cd.get("crossOrigin", False) == v.get("crossOrigin", False), "crossOrigin mismatch")
    need(cd.get("topOrigin") == v.get("topOrigin"), "topOrigin mismatch")
    need("topOrigin" not in cd or cd.get("crossOrigin") is True, "topOrigin without crossOrigin true")
    notes = []
    if cd.get("crossOrigin"):
        notes.append("crossOrigin")
    if "topOrigin" in cd:
        notes.append("topOrigin=" + cd["topOrigin"])
    extra = sorted(set(cd) - {"type", "challenge", "origin", "crossOrigin", "topOrigin"})
    if extra:
        notes.append("extra clientData keys " + ",".join(extra))
    return sha256(raw), notes


# --- attestation statements --------------------------------------------------------------------

def der_items(data):
    """Minimal DER reader: yields (tag class, constructed, tag number, content) for each TLV."""
    i = 0
    while i < len(data):
        b = data[i]; i += 1
        cls, constructed, num = b >> 6, bool(b & 0x20), b & 0x1F
        if num == 0x1F:
            num = 0
            while True:
                c = data[i]; i += 1
                num = (num << 7) | (c & 0x7F)
                if not c & 0x80:
                    break
        ln = data[i]; i += 1
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(data[i:i + k], "big"); i += k
        need(i + ln <= len(data), "DER truncated")
        yield cls, constructed, num, data[i:i + ln]
        i += ln


def der_one(data):
    items = list(der_items(data))
    need(len(items) == 1, "expected one DER item")
    return items[0]


def load_chain(v, stmt):
    need(isinstance(stmt.get("x5c"), list) and stmt["x5c"], "x5c missing")
    certs = [x509.load_der_x509_certificate(c) for c in stmt["x5c"]]
    need("attestationTrustRoot" in v, "x5c present but no attestationTrustRoot recorded")
    root = x509.load_der_x509_certificate(bytes.fromhex(v["attestationTrustRoot"]))
    now = datetime.datetime.utcnow()
    chain = certs + [root]
    for child, parent in zip(chain, chain[1:] + [root]):
        need(child.issuer == parent.subject, "issuer/subject mismatch in chain")
        pk = parent.public_key()
        need(isinstance(pk, ec.EllipticCurvePublicKey), "only ECDSA CA keys handled here")
        try:
            pk.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
        except InvalidSignature:
            raise Fail("certificate signature does not verify")
        need(child.not_valid_before <= now <= child.not_valid_after, "certificate not valid now")
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    need(bc.ca, "trust root is not a CA")
    return certs


def check_leaf_common(leaf, aaguid):
    need(leaf.version == x509.Version.v3, "attestation certificate is not X.509 v3")
    need(not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "leaf is a CA")
    try:
        ext = leaf.extensions.get_extension_for_oid(OID_FIDO_AAGUID)
    except x509.ExtensionNotFound:
        return "no aaguid ext"
    need(not ext.critical, "aaguid extension is critical")
    _, _, tag, inner = der_one(ext.value.value)
    need(tag == 4 and inner == aaguid, "certificate aaguid extension != authData aaguid")
    return "aaguid ext ok"


def att_none(v, stmt, ad, cdh, cred_key, alg, deviations):
    need(stmt == {}, "none attStmt is not empty")
    return "none"


def att_packed(v, stmt, ad, cdh, cred_key, alg, deviations):
    signed = ad["raw"] + cdh
    if "x5c" not in stmt:
        need(set(stmt) == {"alg", "sig"}, "packed self attStmt keys %r" % sorted(stmt))
        need(stmt["alg"] == alg, "packed self alg != credential alg")
        verify(cred_key, alg, stmt["sig"], signed)
        return "packed self: sig ok with credential key"
    need(set(stmt) == {"alg", "sig", "x5c"}, "packed attStmt keys %r" % sorted(stmt))
    certs = load_chain(v, stmt)
    leaf = certs[0]
    verify(leaf.public_key(), stmt["alg"], stmt["sig"], signed)
    subj = leaf.subject
    need([a.value for a in subj.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["Authenticator Attestation"],
         "subject OU is not 'Authenticator Attestation'")
    for oid in (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        need(subj.get_attributes_for_oid(oid), "subject lacks %s" % oid._name)
    note = check_leaf_common(leaf, ad["aaguid"])
    return "packed x5c (%d cert, alg %d): sig ok, chain to root ok, %s" % (len(certs), stmt["alg"], note)


def att_fido_u2f(v, stmt, ad, cdh, cred_key, alg, deviations):
    need(set(stmt) == {"sig", "x5c"} and len(stmt["x5c"]) == 1, "fido-u2f attStmt shape")
    certs = load_chain(v, stmt)
    leaf_key = certs[0].public_key()
    need(isinstance(leaf_key, ec.EllipticCurvePublicKey) and leaf_key.curve.name == "secp256r1", "u2f cert key not P-256")
    cose = cbor.decode(ad["coseRaw"])
    need(alg == -7 and cose[-1] == 1, "u2f credential key not ES256/P-256")
    data = b"\x00" + ad["rpIdHash"] + cdh + ad["credentialId"] + b"\x04" + cose[-2] + cose[-3]
    verify(leaf_key, -7, stmt["sig"], data)
    return "fido-u2f: sig ok, chain to root ok, aaguid %s" % ("zero" if ad["aaguid"] == bytes(16) else "NON-ZERO")


def att_apple(v, stmt, ad, cdh, cred_key, alg, deviations):
    need(set(stmt) == {"x5c"}, "apple attStmt keys %r" % sorted(stmt))
    certs = load_chain(v, stmt)
    leaf = certs[0]
    nonce = sha256(ad["raw"] + cdh)
    ext = leaf.extensions.get_extension_for_oid(OID_APPLE_NONCE).value.value
    _, _, tag, seq = der_one(ext)  # SEQUENCE { [1] EXPLICIT OCTET STRING }
    cls, _, num, expl = der_one(seq)
    need(cls == 2 and num == 1, "apple nonce extension shape")
    _, _, tag, got = der_one(expl)
    need(tag == 4 and got == nonce, "apple nonce != SHA-256(authData || clientDataHash)")
    need(same_public_key(leaf.public_key(), cred_key), "apple leaf key != credential key")
    return "apple: nonce ok, leaf key == credential key, chain to root ok"


def att_android_key(v, stmt, ad, cdh, cred_key, alg, deviations):
    need(set(stmt) == {"alg", "sig", "x5c"}, "android-key attStmt keys %r" % sorted(stmt))
    certs = load_chain(v, stmt)
    leaf = certs[0]
    verify(leaf.public_key(), stmt["alg"], stmt["sig"], ad["raw"] + cdh)
    need(same_public_key(leaf.public_key(), cred_key), "android-key leaf key != credential key")
    ext = leaf.extensions.get_extension_for_oid(OID_ANDROID_KEY).value.value
    _, _, _, kd = der_one(ext)  # KeyDescription SEQUENCE
    f = list(der_items(kd))
    need(len(f) >= 8, "KeyDescription has %d fields" % len(f))
    need(f[4][2] == 4 and f[4][3] == cdh, "attestationChallenge != clientDataHash")

    def auth_list(content):
        return {num: body for cls, _, num, body in der_items(content) if cls == 2}
    sw, tee = auth_list(f[6][3]), auth_list(f[7][3])
    need(600 not in sw and 600 not in tee, "allApplications present")

    def ints(body):  # [n] EXPLICIT (SET OF) INTEGER
        _, constructed, tag, inner = der_one(body)
        if tag == 17:  # SET
            return [int.from_bytes(c, "big") for _, _, _, c in der_items(inner)]
        return [int.from_bytes(inner, "big")]
    merged = dict(sw, **tee)  # the union: an RP that accepts software-backed keys
    # §8.4 also asks for origin == KM_ORIGIN_GENERATED and purpose == KM_PURPOSE_SIGN. An absent field is a
    # deviation of the vector from that procedure; it must be listed in the vector's specDeviations.
    if 702 in merged:
        need(ints(merged[702]) == [0], "origin is not KM_ORIGIN_GENERATED")
    else:
        deviations.append(DEV_ANDROID_ORIGIN)
    if 1 in merged:
        need(2 in ints(merged[1]), "purpose lacks KM_PURPOSE_SIGN")
    else:
        deviations.append(DEV_ANDROID_PURPOSE)
    return "android-key: sig ok, challenge ok, leaf key == credential key, no allApplications, chain to root ok"


DEV_ANDROID_ORIGIN = ("android-key: the KeyDescription's softwareEnforced and teeEnforced lists have no origin field, "
                      "so the §8.4 check origin == KM_ORIGIN_GENERATED cannot pass")
DEV_ANDROID_PURPOSE = ("android-key: the KeyDescription's softwareEnforced and teeEnforced lists have no purpose field, "
                       "so the §8.4 check purpose == KM_PURPOSE_SIGN cannot pass")

TPM_ALG = {0x000B: hashlib.sha256, 0x000C: hashlib.sha384, 0x000D: hashlib.sha512, 0x0004: hashlib.sha1}


def att_tpm(v, stmt, ad, cdh, cred_key, alg, deviations):
    need(set(stmt) == {"ver", "alg", "x5c", "sig", "certInfo", "pubArea"}, "tpm attStmt keys %r" % sorted(stmt))
    need(stmt["ver"] == "2.0", "tpm ver")
    # pubArea (TPMT_PUBLIC) must describe the credential key
    pa = stmt["pubArea"]
    typ, name_alg = struct.unpack(">HH", pa[:4])
    i = 4 + 4  # objectAttributes
    (n,) = struct.unpack(">H", pa[i:i + 2]); i += 2 + n  # authPolicy
    cose = cbor.decode(ad["coseRaw"])
    need(typ == 0x0023 and cose[1] == 2, "pubArea type is not ECC for an EC2 credential")
    sym, scheme, curve, kdf = struct.unpack(">HHHH", pa[i:i + 8]); i += 8
    need(curve == {1: 0x0003, 2: 0x0004, 3: 0x0005}[cose[-1]], "pubArea curve != credential crv")
    (n,) = struct.unpack(">H", pa[i:i + 2]); x = pa[i + 2:i + 2 + n]; i += 2 + n
    (n,) = struct.unpack(">H", pa[i:i + 2]); y = pa[i + 2:i + 2 + n]; i += 2 + n
    need(i == len(pa), "pubArea trailing bytes")
    need(x == cose[-2] and y == cose[-3], "pubArea unique != credential key")
    # certInfo (TPMS_ATTEST)
    ci = stmt["certInfo"]
    need(ci[:4] == b"\xffTCG" and ci[4:6] == b"\x80\x17", "certInfo magic/type")
    i = 6
    (n,) = struct.unpack(">H", ci[i:i + 2]); i += 2 + n  # qualifiedSigner
    (n,) = struct.unpack(">H", ci[i:i + 2]); extra = ci[i + 2:i + 2 + n]; i += 2 + n
    hash_fn = {-7: hashlib.sha256, -35: hashlib.sha384, -36: hashlib.sha512, -257: hashlib.sha256}[stmt["alg"]]
    need(extra == hash_fn(ad["raw"] + cdh).digest(), "certInfo extraData")
    i += 17 + 8  # clockInfo, firmwareVersion
    (n,) = struct.unpack(">H", ci[i:i + 2]); name = ci[i + 2:i + 2 + n]; i += 2 + n
    (nalg,) = struct.unpack(">H", name[:2])
    need(nalg == name_alg and name[2:] == TPM_ALG[nalg](pa).digest(), "certInfo attested name != H(pubArea)")
    (n,) = struct.unpack(">H", ci[i:i + 2]); i += 2 + n  # qualifiedName
    need(i == len(ci), "certInfo trailing bytes")
    certs = load_chain(v, stmt)
    aik = certs[0]
    verify(aik.public_key(), stmt["alg"], stmt["sig"], ci)
    need(len(aik.subject) == 0, "AIK subject not empty")
    eku = aik.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    need(OID_TCG_KP_AIK in list(eku), "AIK EKU lacks tcg-kp-AIKCertificate")
    san = aik.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    need(san.critical, "AIK SAN not critical")
    note = check_leaf_common(aik, ad["aaguid"])
    return "tpm: pubArea == credential key, certInfo ok, sig ok, AIK profile ok, chain to root ok, %s" % note


ATTESTATION = {"none": att_none, "packed": att_packed, "fido-u2f": att_fido_u2f, "apple": att_apple,
               "android-key": att_android_key, "tpm": att_tpm}


# --- per-vector checks -------------------------------------------------------------------------

def check_registration(v):
    ao_raw = bytes.fromhex(v["attestationObject"])
    ao = cbor.decode(ao_raw)
    need(set(ao) == {"fmt", "attStmt", "authData"}, "attestation object keys %r" % sorted(ao))
    lib = AttestationObject(ao_raw)
    need(lib.fmt == ao["fmt"] and bytes(lib.auth_data) == ao["authData"], "fido2 AttestationObject disagrees")
    need(ao["fmt"] == v["attestationFormat"], "fmt %r != attestationFormat" % ao["fmt"])
    need(ao["authData"].hex() == v.get("authenticatorData", ao["authData"].hex()), "authenticatorData field != authData")
    ad = parse_auth_data(ao["authData"])
    check_auth_data(v, ad, "registration")
    need(ad["aaguid"].hex() == v["aaguid"], "aaguid mismatch")
    need(ad["credentialId"].hex() == v["credentialId"], "credentialId mismatch")
    need(ad["coseRaw"].hex() == v["credentialPublicKeyCOSE"], "credentialPublicKeyCOSE != COSE key in authData")
    cose = cbor.decode(ad["coseRaw"])
    key, alg = cose_to_key(cose)
    need(alg == v["algorithm"], "COSE alg %r != algorithm %r" % (alg, v["algorithm"]))
    cdh, notes = check_client_data(v, "registration")
    deviations = []
    att = ATTESTATION[ao["fmt"]](v, ao["attStmt"], ad, cdh, key, alg, deviations)
    need(deviations == v.get("specDeviations", []),
         "deviations from the spec's verification procedure %r != recorded specDeviations %r"
         % (deviations, v.get("specDeviations", [])))
    if deviations:
        notes.append("%d recorded spec deviation(s): %s" % (len(deviations), " / ".join(deviations)))
    blobs = [ao_raw, ad["coseRaw"]] + ([ad["extensionsRaw"]] if "extensionsRaw" in ad else [])
    canonical = all(is_canonical(b) for b in blobs)
    if "extensionsRaw" in ad:
        notes.append("authData extensions %r" % cbor.decode(ad["extensionsRaw"]))
    return canonical, att, notes, ad


def check_assertion(v, registrations):
    regs = [r for r in registrations if r["credentialId"] == v["credentialId"]]
    need(len(regs) == 1, "no single registration with this credentialId")
    reg = regs[0]
    need(reg["credentialPublicKeyCOSE"] == v["credentialPublicKeyCOSE"], "COSE key differs from the registration's")
    need(reg["algorithm"] == v["algorithm"] and reg["aaguid"] == v["aaguid"] and reg["rpId"] == v["rpId"],
         "algorithm/aaguid/rpId differ from the registration")
    raw = bytes.fromhex(v["authenticatorData"])
    ad = parse_auth_data(raw)
    check_auth_data(v, ad, "assertion")
    reg_flags = bytes.fromhex(reg["attestationObject"])  # BE must not change across ceremonies
    reg_ad = parse_auth_data(cbor.decode(reg_flags)["authData"])
    need(bool(ad["flags"] & FLAG_BE) == bool(reg_ad["flags"] & FLAG_BE), "BE differs from the registration")
    cose_raw = bytes.fromhex(v["credentialPublicKeyCOSE"])
    key, alg = cose_to_key(cbor.decode(cose_raw))
    need(alg == v["algorithm"], "COSE alg != algorithm")
    cdh, notes = check_client_data(v, "assertion")
    verify(key, alg, bytes.fromhex(v["signature"]), raw + cdh)
    blobs = [cose_raw] + ([ad["extensionsRaw"]] if "extensionsRaw" in ad else [])
    if "extensionsRaw" in ad:
        notes.append("authData extensions %r" % cbor.decode(ad["extensionsRaw"]))
    return all(is_canonical(b) for b in blobs), "assertion sig ok (alg %d) with registered key" % alg, notes, ad


REQUIRED = {
    "registration": ["name", "rpId", "origin", "kind", "algorithm", "attestationFormat", "challenge", "clientDataJSON",
                     "attestationObject", "credentialId", "credentialPublicKeyCOSE", "signCount", "flags",
                     "backupEligible", "backupState", "userVerified", "aaguid", "canonical", "source"],
    "assertion": ["name", "rpId", "origin", "kind", "algorithm", "challenge", "clientDataJSON", "credentialId",
                  "credentialPublicKeyCOSE", "authenticatorData", "signature", "signCount", "flags", "backupEligible",
                  "backupState", "userVerified", "aaguid", "canonical", "source"],
}
HEX_FIELDS = ["challenge", "clientDataJSON", "attestationObject", "credentialId", "credentialPublicKeyCOSE",
              "authenticatorData", "signature", "aaguid", "attestationTrustRoot"]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "spec-vectors.json")
    with open(path) as f:
        vectors = json.load(f)
    registrations = [v for v in vectors if v.get("kind") == "registration"]
    failures = 0
    names = set()
    for v in vectors:
        name = v.get("name", "?")
        try:
            need(name not in names, "duplicate name")
            names.add(name)
            need(v.get("kind") in REQUIRED, "kind %r" % v.get("kind"))
            missing = [k for k in REQUIRED[v["kind"]] if k not in v]
            need(not missing, "missing fields %s" % missing)
            for k in HEX_FIELDS:
                if k in v:
                    need(isinstance(v[k], str) and HEX.match(v[k]) and len(v[k]) % 2 == 0, "%s is not lowercase hex" % k)
            if v["kind"] == "registration":
                canonical, what, notes, ad = check_registration(v)
            else:
                canonical, what, notes, ad = check_assertion(v, registrations)
            need(canonical == v["canonical"], "canonical is %s, recorded %s" % (canonical, v["canonical"]))
            f = ad["flags"]
            flags = "flags=0x%02x UP%s%s%s%s" % (f, " UV" if f & FLAG_UV else " (no UV)", " BE" if f & FLAG_BE else "",
                                                 " BS" if f & FLAG_BS else "", " ED" if f & FLAG_ED else "")
            print("ok   %-40s %-12s alg=%-5d %s signCount=%d canonical=%s; %s%s" % (
                name, v["kind"], v["algorithm"], flags, ad["signCount"], str(canonical).lower(), what,
                ("; " + "; ".join(notes)) if notes else ""))
        except Exception as e:  # Fail, or anything unexpected in a malformed vector
            failures += 1
            print("FAIL %-40s %s: %s" % (name, type(e).__name__, e))
    print("%d vectors, %d failed" % (len(vectors), failures))
    return 1 if failures or not vectors else 0


if __name__ == "__main__":
    sys.exit(main())
