"""Pure logic of the HTTP auth objects: the ``WWW-Authenticate`` challenges they read (RFC 9110
11.6.1), and the origin a credential is bound to. The servers' real headers are exercised in
tests/test_http_*auth*.py; here, the grammar's corners and what a hostile header may hold."""

from __future__ import annotations

import pytest

from providers._http_origin import CredentialGuard, Origin
from providers._www_authenticate import MAX_HEADER, Challenge, find_challenge, parse_challenges


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("Negotiate", [Challenge("Negotiate")]),
        ("Negotiate oYGJMIGGoAMKAQ==", [Challenge("Negotiate", "oYGJMIGGoAMKAQ==")]),
        (
            'Bearer realm="dicom, web", error="invalid_token", error_description="a \\"b\\""',
            [
                Challenge(
                    "Bearer",
                    params={
                        "realm": "dicom, web",
                        "error": "invalid_token",
                        "error_description": 'a "b"',
                    },
                )
            ],
        ),
        (  # two headers as requests joins them, and a scheme with a token parameter
            'Negotiate, Basic realm="x", Bearer ERROR=invalid_token',
            [
                Challenge("Negotiate"),
                Challenge("Basic", params={"realm": "x"}),
                Challenge("Bearer", params={"error": "invalid_token"}),
            ],
        ),
        (",, Basic  realm=x ,", [Challenge("Basic", params={"realm": "x"})]),
        ('"unterminated, Negotiate abc', []),  # one quoted run to the end: no challenge
        ("=x, @@@, Basic", [Challenge("Basic")]),  # parts that fit no rule are skipped
    ],
)
def test_challenges(header: str | None, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_find_challenge_ignores_case_and_takes_the_first() -> None:
    header = "negotiate AAAA, Negotiate BBBB"
    challenge = find_challenge(header, "NEGOTIATE")
    assert challenge is not None and challenge.token68 == "AAAA"
    assert find_challenge(header, "Bearer") is None


def test_a_huge_header_is_cut() -> None:
    header = "Basic realm=x, " + "a" * (2 * MAX_HEADER) + " b, Negotiate zzzz"
    challenges = parse_challenges(header)
    assert challenges[0] == Challenge("Basic", params={"realm": "x"})
    assert find_challenge(header, "Negotiate") is None  # past the cut
    assert sum(len(c.scheme) for c in challenges) < MAX_HEADER


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://PACS.example.org/dicom-web", Origin("https", "pacs.example.org", 443)),
        ("http://127.0.0.1/x", Origin("http", "127.0.0.1", 80)),
        ("http://[::1]:8042/dicom-web", Origin("http", "::1", 8042)),
    ],
)
def test_origins(url: str, origin: Origin) -> None:
    assert Origin.of(url) == origin


@pytest.mark.parametrize(
    "url", ["ftp://h/", "https:///nohost", "http://h:99999/", "dicom-web", "http://h:port/"]
)
def test_what_is_not_an_origin(url: str) -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL with a host"):
        Origin.of(url)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://127.0.0.1:8042/dicom-web/studies", True),
        ("http://127.0.0.1:8042/elsewhere", True),  # the origin, not the path
        ("http://127.0.0.1:8043/dicom-web/studies", False),
        ("https://127.0.0.1:8042/dicom-web/studies", False),
        ("http://localhost:8042/dicom-web/studies", False),
    ],
)
def test_a_guard_allows_its_origin_only(url: str, sent: bool) -> None:
    guard = CredentialGuard(Origin.of("http://127.0.0.1:8042/dicom-web"), "it", bearer=True)
    if sent:
        guard.check(url)
    else:
        with pytest.raises(Exception, match=r"made for http://127\.0\.0\.1:8042"):
            guard.check(url)


def test_ipv6_loopback_over_plain_http_is_loopback() -> None:
    CredentialGuard(Origin.of("http://[::1]:8042/"), "it", bearer=True).check("http://[::1]:8042/x")
