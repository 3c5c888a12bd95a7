#!/usr/bin/env python3
"""C-ECHO with a type 1 identity (a username alone)."""

from __future__ import annotations

import _common

from providers import UsernameProvider


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--user", default=_common.DEMO_USER, help="username to present")
    args = p.parse_args(argv)
    with _common.target(args, users={_common.DEMO_USER: _common.DEMO_PASSWORD}) as where:
        identity = UsernameProvider(
            args.user, positive_response=args.pos_response or where.embedded
        )
        with _common.client(args, where, identity).associate() as session:
            _common.report(session, "C-ECHO", session.echo())
    return 0


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
