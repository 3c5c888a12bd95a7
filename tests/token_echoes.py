"""The token endpoint's client credentials and the hostile answers that echo the client secret back,
one per source of server text."""

from __future__ import annotations

import base64
import json
import urllib.parse

import jwt

JWT_KEY = "token-server-hs256-key-trusted-by-the-pacs"


CLIENT_ID = "dicom-scu"


# A space, a plus, a slash, a percent sign and non-ASCII: every encoding differs from the raw.
CLIENT_SECRET = "h0stile s3cret+/Ü%41-canary"


SERVICE = "idp.test.example"


T0 = 1_800_000_000


def answer(status_line: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = [status_line, *(f"{k}: {v}" for k, v in headers.items())]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return "\r\n".join(head).encode("utf-8") + b"\r\n\r\n" + body


def json_answer(status: int, body: object, headers: dict[str, str] | None = None) -> bytes:
    extra = {"Content-Type": "application/json", **(headers or {})}
    return answer(f"HTTP/1.1 {status} X", extra, json.dumps(body).encode())


QUOTED = urllib.parse.quote_plus(CLIENT_SECRET)


B64 = base64.b64encode(b"ab" + CLIENT_SECRET.encode() + b"z").decode()  # offset 2, not padded


A_JWT = jwt.encode({"sub": "x", "exp": T0 + 3600}, JWT_KEY)


ECHOES = {
    "reason phrase": answer(f"HTTP/1.1 401 {CLIENT_SECRET}", {}),
    "reason phrase, form-encoded": answer(f"HTTP/1.1 400 got {QUOTED}", {}),
    "Location": answer(
        "HTTP/1.1 302 Found",
        {"Location": f"https://{QUOTED}@evil.example/{QUOTED}?secret={QUOTED}#{QUOTED}"},
    ),
    "JSON key": json_answer(200, {CLIENT_SECRET: 1, QUOTED: 2}),
    "token_type": json_answer(200, {"access_token": A_JWT, "token_type": CLIENT_SECRET}),
    "error": json_answer(400, {"error": B64}),
    "error_description, URL-encoded": json_answer(
        401, {"error": "invalid_client", "error_description": f"bad {QUOTED.lower()}"}
    ),
    "error_description, hex": json_answer(
        400, {"error": "invalid_request", "error_description": CLIENT_SECRET.encode().hex()}
    ),
    "error_uri": json_answer(400, {"error": "x", "error_uri": f"https://e.example/{QUOTED}"}),
    "aud of the token": json_answer(
        200, {"access_token": jwt.encode({"aud": [CLIENT_SECRET], "exp": T0 + 60}, JWT_KEY)}
    ),
    "a bad status line": f"HTTP/1.1 abc {CLIENT_SECRET}\r\n\r\n".encode(),
    "a header line without a colon": f"HTTP/1.1 200 OK\r\n{CLIENT_SECRET}\r\n\r\n".encode(),
    "a forged second line": answer(
        "HTTP/1.1 400 X",
        {"Content-Type": "application/json"},
        json.dumps({"error": "x\nINFO all is well", "error_description": "a\u2028b\rc"}).encode(),
    ),
}
