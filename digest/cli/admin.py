"""`digest admin set-password`: the hash for `[admin] password_hash`, from a password on standard input.

Standard input rather than an argument, so the password stays out of the shell history and `ps`. The
command prints the hash and stores nothing: the operator puts it in the settings file or in
DIGEST_ADMIN__PASSWORD_HASH (or a file named by DIGEST_ADMIN__PASSWORD_HASH_FILE).
"""

from __future__ import annotations

import sys

import click

from digest.cli.common import handles_errors
from digest.errors import DigestError
from digest.web.admin.passwords import hash_password

MIN_LENGTH = 12


@click.group()
def admin() -> None:
    """The operator's dashboard at /admin."""


@admin.command("set-password")
@handles_errors
def set_password() -> None:
    """Read a password from standard input (its first line) and print its hash for [admin] password_hash."""
    if sys.stdin.isatty():  # typed: not shown, and asked twice, as passwd does
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    else:  # piped or redirected: the first line, without its line ending
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if len(password) < MIN_LENGTH:
        raise DigestError(f"the password must have at least {MIN_LENGTH} characters")
    click.echo(hash_password(password))
