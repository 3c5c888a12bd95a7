"""``dicom-identity``: echo, store, find, get and move with a DICOM user identity, from the shell.

Secrets never go in argv: passwords and OAuth2 client secrets come from the keyring, tokens and
SAML assertions from files or a token endpoint, Kerberos from the ticket cache or a keytab.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

from client_sdk._cli.parser import build_parser

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up, issue 16)

if TYPE_CHECKING:
    from client_sdk._config.model import Config


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "pacs":
        # Everything after "pacs" belongs to the embedded PACS's own options.
        args.pacs_args = [*rest, *args.pacs_args]
    else:
        args = parser.parse_args(argv)
    # The commands (pynetdicom, pydicom), the errors and the report load only now: --help and
    # --version have exited.
    from client_sdk._cli.commands import COMMANDS, run_pacs
    from client_sdk._cli.exit_codes import exit_code
    from client_sdk._cli.flag_secrets import refuse_secrets_in_flags
    from client_sdk._cli.keyring import in_cli_terms
    from client_sdk._cli.login import LOGIN_COMMANDS
    from client_sdk._cli.report import Reporter
    from client_sdk._cli.stderr import configure_stderr
    from client_sdk._config.load import load_config

    report = Reporter(as_json=args.json)
    if args.command == "pacs":
        # A server: its log lines (pynetdicom's included) are its output.
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.WARNING,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )
        if args.debug:
            from client_sdk._pynetdicom.log_redaction import install_pynetdicom_redaction

            install_pynetdicom_redaction()
        return run_pacs(args)
    configure_stderr(debug=args.debug)
    config: Config | None = None
    try:
        refuse_secrets_in_flags(args)  # a secret typed in argv: refused, shown masked
        config = load_config(args.config)
        command = LOGIN_COMMANDS.get(args.command) or COMMANDS[args.command]
        return command(config, args, report)
    except KeyboardInterrupt:
        print("dicom-identity: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = exit_code(exc)
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        report.error(in_cli_terms(exc, config, args), code)
        return code
