#!/usr/bin/env python3
"""Generate shared/testdata/signature_vectors.json: known-answer vectors for shared/src/signature.rs.

This is an independent reference for the Rust module: it uses only the Python standard library (hmac, hashlib,
base64, json) and the Svix / Standard Webhooks scheme as documented:

    signature = "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body))
    key       = base64-decode(secret without its optional "whsec_" prefix)

The timestamp is signed as the decimal of the parsed integer (what Svix's Rust library does), so a header
"01614265330" signs exactly like "1614265330".

Each case lists the secrets a Verifier is built from, the headers and body of one delivery, the clock ("now"),
the expected outcome of verification, and the expected output of sign() for every signature the case was built
from. The vectors are generated once and committed; rerun this script only to add cases:

    python3 shared/testdata/gen_signature_vectors.py
"""

import base64
import hashlib
import hmac
import json
import os

# Svix's documented example (https://docs.svix.com/receiving/verifying-payloads/how-manual).
SVIX_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SVIX_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SVIX_TS = 1614265330
SVIX_BODY = b'{"test": 2432232314}'
SVIX_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def derived_secret(label: str, length: int = 24) -> str:
    """A deterministic secret: the first `length` bytes of SHA-256(label), base64, with the whsec_ prefix."""
    return "whsec_" + base64.b64encode(hashlib.sha256(label.encode()).digest()[:length]).decode()


SECRET_B = derived_secret("jwh rotation secret B")
SECRET_UNKNOWN = derived_secret("jwh secret nobody configured")
SECRET_PADDED = derived_secret("jwh 32-byte secret", 32)  # 32 bytes -> 44 base64 chars ending in "="
assert SECRET_PADDED.endswith("=")

JUNCTION_ID = "msg_2zV9Q0bEXAMPLEjunction0001"
JUNCTION_TS = 1735689600  # 2025-01-01T00:00:00Z
JUNCTION_BODY = (
    b'{"event_type":"daily.data.heartrate.created","user_id":"9f2b6d9e-1c1a-4a9e-9d1e-5b8f2b0f7c11",'
    b'"client_user_id":"user-42","team_id":"team-1","data":{"source":{"provider":"oura","type":"ring"},'
    b'"data":[{"timestamp":"2025-01-01T00:00:00+00:00","value":61.0,"unit":"bpm"}]}}'
)


def key_of(secret: str) -> bytes:
    s = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(s, validate=True)


def mac(secret: str, msg_id: str, ts: int, body: bytes) -> bytes:
    return hmac.new(key_of(secret), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()


def sig(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    return "v1," + base64.b64encode(mac(secret, msg_id, ts, body)).decode()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def svix_headers(msg_id, ts, signature, prefix="svix"):
    return [[f"{prefix}-id", msg_id], [f"{prefix}-timestamp", str(ts)], [f"{prefix}-signature", signature]]


CASES = []


def case(name, *, secrets, headers, body, now, expect, signs=(), tolerance_secs=None, note=None):
    c = {"name": name}
    if note:
        c["note"] = note
    c["secrets"] = secrets
    if tolerance_secs is not None:
        c["tolerance_secs"] = tolerance_secs
    c["now"] = now
    c["headers"] = headers
    try:
        c["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        c["body_b64"] = b64(body)
    # Every signature a case is built from, so the Rust test can check sign() byte for byte.
    c["signs"] = [
        {"secret": s, "id": i, "timestamp": t, "expected": sig(s, i, t, body)}
        for (s, i, t) in signs
    ]
    c["expect"] = expect
    CASES.append(c)


def ok(msg_id, ts):
    return {"ok": {"id": msg_id, "timestamp": ts}}


def err(name, header=None):
    e = {"err": name}
    if header:
        e["header"] = header
    return e


def main():
    # The documented example must come out of this script unchanged, or the scheme above is wrong.
    assert sig(SVIX_SECRET, SVIX_ID, SVIX_TS, SVIX_BODY) == SVIX_SIGNATURE

    S, I, T, B = SVIX_SECRET, SVIX_ID, SVIX_TS, SVIX_BODY
    good = sig(S, I, T, B)
    good_b64 = good.split(",", 1)[1]
    raw = mac(S, I, T, B)
    wrong = sig(S, I, T, B + b" ")  # a genuine signature of a different body

    # --- Svix's documented example and basic shape ----------------------------------------------------------
    case("svix_documented_example", secrets=[S], headers=svix_headers(I, T, good), body=B, now=T,
         expect=ok(I, T), signs=[(S, I, T)])
    case("junction_shaped_delivery", secrets=[S], headers=svix_headers(JUNCTION_ID, JUNCTION_TS,
         sig(S, JUNCTION_ID, JUNCTION_TS, JUNCTION_BODY)), body=JUNCTION_BODY, now=JUNCTION_TS + 12,
         expect=ok(JUNCTION_ID, JUNCTION_TS), signs=[(S, JUNCTION_ID, JUNCTION_TS)])
    case("wrong_secret", secrets=[SECRET_UNKNOWN], headers=svix_headers(I, T, good), body=B, now=T,
         expect=err("NoMatchingSignature"), signs=[(S, I, T)])
    case("tampered_body", secrets=[S], headers=svix_headers(I, T, good), body=B.replace(b"2432232314", b"2432232315"),
         now=T, expect=err("NoMatchingSignature"))
    case("tampered_id", secrets=[S], headers=svix_headers(I + "x", T, good), body=B, now=T,
         expect=err("NoMatchingSignature"))
    case("timestamp_header_differs_from_signed", secrets=[S], headers=svix_headers(I, T + 1, good), body=B,
         now=T, expect=err("NoMatchingSignature"), signs=[(S, I, T)])

    # --- several entries, other versions, malformed entries -------------------------------------------------
    case("several_entries_match_last", secrets=[S], headers=svix_headers(I, T, f"{wrong} {wrong} {good}"),
         body=B, now=T, expect=ok(I, T), signs=[(S, I, T)])
    case("several_entries_match_first", secrets=[S], headers=svix_headers(I, T, f"{good} {wrong}"),
         body=B, now=T, expect=ok(I, T), signs=[(S, I, T)])
    case("several_entries_none_match", secrets=[S], headers=svix_headers(I, T, f"{wrong} {wrong}"),
         body=B, now=T, expect=err("NoMatchingSignature"))
    case("other_versions_not_counted", secrets=[S],
         headers=svix_headers(I, T, f"v1a,{good_b64} v2,{good_b64} V1,{good_b64} v0,{good_b64}"), body=B, now=T,
         expect=err("NoMatchingSignature"),
         note="the right MAC under any version but exactly 'v1' must not verify")
    case("other_versions_ignored_before_v1", secrets=[S],
         headers=svix_headers(I, T, f"v1a,{good_b64} v2,AAAA {good}"), body=B, now=T, expect=ok(I, T))
    case("malformed_entries_ignored", secrets=[S],
         headers=svix_headers(I, T, f"garbage v1 v1, ,v1 v1,!!!! v1,{good_b64},extra  {good} "), body=B, now=T,
         expect=ok(I, T), note="entries without a comma, empty, bad base64 and double spaces are skipped")
    case("empty_signature_header", secrets=[S], headers=svix_headers(I, T, ""), body=B, now=T,
         expect=err("NoMatchingSignature"))
    case("version_only", secrets=[S], headers=svix_headers(I, T, "v1,"), body=B, now=T,
         expect=err("NoMatchingSignature"))

    # --- lengths and padding: compared as the 32 decoded bytes, not as base64 text --------------------------
    case("wrong_length_31_bytes", secrets=[S], headers=svix_headers(I, T, "v1," + b64(raw[:31])), body=B, now=T,
         expect=err("NoMatchingSignature"))
    case("wrong_length_33_bytes", secrets=[S], headers=svix_headers(I, T, "v1," + b64(raw + b"\0")), body=B,
         now=T, expect=err("NoMatchingSignature"))
    case("wrong_length_64_bytes", secrets=[S], headers=svix_headers(I, T, "v1," + b64(raw + raw)), body=B,
         now=T, expect=err("NoMatchingSignature"))
    case("truncated_base64", secrets=[S], headers=svix_headers(I, T, good[:-5]), body=B, now=T,
         expect=err("NoMatchingSignature"))
    case("padding_missing", secrets=[S], headers=svix_headers(I, T, good.rstrip("=")), body=B, now=T,
         expect=ok(I, T))
    case("padding_extra", secrets=[S], headers=svix_headers(I, T, good + "=="), body=B, now=T, expect=ok(I, T))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(good_b64[42]) ^ 1]  # 32 bytes leave 2 unused low bits in the 43rd char
    non_canonical = good_b64[:42] + last + "="
    assert base64.b64decode(non_canonical) == raw  # lenient decoders read the same 32 bytes
    case("non_canonical_trailing_bits", secrets=[S], headers=svix_headers(I, T, "v1," + non_canonical), body=B,
         now=T, expect=err("NoMatchingSignature"),
         note="same 32 bytes to a lenient decoder, but not the canonical encoding; Svix compares text, so rejects")
    case("url_safe_alphabet_rejected", secrets=[S],
         headers=svix_headers(I, T, "v1," + base64.urlsafe_b64encode(raw).decode()), body=B, now=T,
         expect=err("NoMatchingSignature"),
         note="this MAC contains '+' and '/', so the URL-safe spelling differs; Svix uses the standard alphabet")

    # --- bodies ----------------------------------------------------------------------------------------------
    empty_sig = sig(S, I, T, b"")
    case("empty_body", secrets=[S], headers=svix_headers(I, T, empty_sig), body=b"", now=T, expect=ok(I, T),
         signs=[(S, I, T)])
    utf8_body = '{"name":"Zoë","note":"心拍数 💓","unit":"°C"}'.encode("utf-8")
    case("utf8_body", secrets=[S], headers=svix_headers(I, T, sig(S, I, T, utf8_body)), body=utf8_body, now=T,
         expect=ok(I, T), signs=[(S, I, T)])
    bad_utf8 = b'\xff\xfe{"x":1}\xc3\x28\x80'
    case("invalid_utf8_body", secrets=[S], headers=svix_headers(I, T, sig(S, I, T, bad_utf8)), body=bad_utf8,
         now=T, expect=ok(I, T), signs=[(S, I, T)], note="the MAC is over raw bytes; the body need not be UTF-8")

    # --- timestamps ------------------------------------------------------------------------------------------
    for offset, expect in [(300, ok(I, T)), (-300, ok(I, T)), (301, err("TimestampTooOld")),
                           (-301, err("TimestampTooNew"))]:
        now = T + offset
        label = f"now_is_timestamp_{'plus' if offset > 0 else 'minus'}_{abs(offset)}"
        case(label, secrets=[S], headers=svix_headers(I, T, good), body=B, now=now, expect=expect, signs=[(S, I, T)])
    case("custom_tolerance_edge_ok", secrets=[S], tolerance_secs=60, headers=svix_headers(I, T, good), body=B,
         now=T + 60, expect=ok(I, T))
    case("custom_tolerance_too_old", secrets=[S], tolerance_secs=60, headers=svix_headers(I, T, good), body=B,
         now=T + 61, expect=err("TimestampTooOld"))
    case("custom_tolerance_too_new", secrets=[S], tolerance_secs=60, headers=svix_headers(I, T, good), body=B,
         now=T - 61, expect=err("TimestampTooNew"))
    case("stale_timestamp_checked_before_signature", secrets=[S], headers=svix_headers(I, T, wrong), body=B,
         now=T + 10_000, expect=err("TimestampTooOld"))
    case("negative_timestamp_too_old", secrets=[S], headers=svix_headers(I, -1, sig(S, I, -1, B)), body=B, now=T,
         expect=err("TimestampTooOld"), signs=[(S, I, -1)])
    case("leading_zero_timestamp_signs_as_integer", secrets=[S], headers=svix_headers(I, "0" + str(T), good),
         body=B, now=T, expect=ok(I, T), signs=[(S, I, T)],
         note="Svix parses the header to an integer and signs the integer, so '01614265330' signs as '1614265330'")
    case("plus_sign_timestamp_signs_as_integer", secrets=[S], headers=svix_headers(I, "+" + str(T), good),
         body=B, now=T, expect=ok(I, T), note="Rust's i64 parser (and so Svix's) accepts a leading '+'")
    for label, value in [("fraction", f"{T}.5"), ("letters", "abc"), ("empty", ""), ("leading_space", f" {T}"),
                         ("exponent", "1.6e9"), ("overflow", "99999999999999999999"), ("hex", "0x60378e72"),
                         ("milliseconds_rfc3339", "2021-02-25T15:02:10Z")]:
        case(f"malformed_timestamp_{label}", secrets=[S], headers=svix_headers(I, value, good), body=B, now=T,
             expect=err("MalformedTimestamp"))

    # --- secrets ---------------------------------------------------------------------------------------------
    case("secret_without_prefix", secrets=[S[len("whsec_"):]], headers=svix_headers(I, T, good), body=B, now=T,
         expect=ok(I, T), signs=[(S[len("whsec_"):], I, T)])
    case("secret_with_padding", secrets=[SECRET_PADDED], headers=svix_headers(I, T, sig(SECRET_PADDED, I, T, B)),
         body=B, now=T, expect=ok(I, T), signs=[(SECRET_PADDED, I, T)])
    for label, bad in [("not_base64", "whsec_not*base64!"), ("empty", "whsec_"), ("bad_length", "whsec_abcde"),
                       ("missing_padding", SECRET_PADDED.rstrip("=")), ("empty_string", ""),
                       ("trailing_newline", S + "\n"), ("surrounding_space", " " + S)]:
        case(f"malformed_secret_{label}", secrets=[bad], headers=svix_headers(I, T, good), body=B, now=T,
             expect=err("MalformedSecret"))
    case("malformed_secret_among_good_ones", secrets=[S, "whsec_%%%"], headers=svix_headers(I, T, good), body=B,
         now=T, expect=err("MalformedSecret"), note="one bad secret fails the whole Verifier, never silently")

    # --- rotation: any secret against any v1 entry -----------------------------------------------------------
    sig_b = sig(SECRET_B, I, T, B)
    case("rotation_old_secret_matches", secrets=[S, SECRET_B], headers=svix_headers(I, T, good), body=B, now=T,
         expect=ok(I, T), signs=[(S, I, T)])
    case("rotation_new_secret_matches", secrets=[S, SECRET_B], headers=svix_headers(I, T, sig_b), body=B, now=T,
         expect=ok(I, T), signs=[(SECRET_B, I, T)])
    case("rotation_both_entries", secrets=[SECRET_B, S], headers=svix_headers(I, T, f"{good} {sig_b}"), body=B,
         now=T, expect=ok(I, T), signs=[(S, I, T), (SECRET_B, I, T)])
    case("rotation_neither_matches", secrets=[S, SECRET_B],
         headers=svix_headers(I, T, sig(SECRET_UNKNOWN, I, T, B)), body=B, now=T, expect=err("NoMatchingSignature"),
         signs=[(SECRET_UNKNOWN, I, T)])

    # --- headers ---------------------------------------------------------------------------------------------
    case("webhook_fallback_headers", secrets=[S], headers=svix_headers(I, T, good, prefix="webhook"), body=B,
         now=T, expect=ok(I, T))
    case("mixed_svix_and_webhook_headers", secrets=[S],
         headers=[["svix-id", I], ["webhook-timestamp", str(T)], ["webhook-signature", good]], body=B, now=T,
         expect=ok(I, T))
    case("svix_headers_win_over_webhook", secrets=[S],
         headers=svix_headers(I, T, good) + svix_headers("msg_other", T + 1, wrong, prefix="webhook"), body=B,
         now=T, expect=ok(I, T))
    case("header_names_case_insensitive", secrets=[S],
         headers=[["Svix-Id", I], ["SVIX-TIMESTAMP", str(T)], ["Svix-Signature", good]], body=B, now=T,
         expect=ok(I, T))
    all_headers = svix_headers(I, T, good)
    for idx, name in enumerate(["svix-id", "svix-timestamp", "svix-signature"]):
        case(f"missing_{name.replace('-', '_')}", secrets=[S],
             headers=[h for j, h in enumerate(all_headers) if j != idx], body=B, now=T,
             expect=err("MissingHeader", name))
    case("missing_all_headers", secrets=[S], headers=[], body=B, now=T, expect=err("MissingHeader", "svix-id"),
         note="headers are read in the order id, timestamp, signature")

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signature_vectors.json")
    doc = {
        "about": "Known-answer vectors for shared/src/signature.rs, generated by gen_signature_vectors.py "
                 "(Python stdlib hmac/hashlib/base64). Do not edit by hand.",
        "cases": CASES,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=True)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {path}")


if __name__ == "__main__":
    main()
