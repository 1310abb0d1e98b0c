"""``dr``: the command tree, where it points, and how failures end (one line, one exit code).

Every command family is a module of this package; :data:`COMMANDS` registers
them all, explicitly, in the order ``dr --help`` lists them. Expected failures
(:class:`shared.errors.DRError`, and library errors translated by
:mod:`shared.console.failures`) print ``error: ...`` and exit with the code of
their class (sysexits, the table in the README); usage errors exit 64.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from shared import __version__
from shared.console import (
    backups,
    configure,
    drills,
    info,
    legacy,
    locks,
    restore,
    retention,
    verify,
)
from shared.console.environment import resolve
from shared.console.session import Session
from shared.errors import DRError, RequestError

INTERRUPTED = 130  # the shell's code for Ctrl-C

EXIT_CODES = """\b
Exit codes: 0 ok; 64 bad command or request; 65 damaged backup; 66 no such
backup, request, drill or object; 69 server unreachable; 70 backup failed or stale; 73 refused by a
safety rule; 75 busy or still running; 77 permission denied; 78 configuration.
"""


class Commands(click.Group):
    """Lists commands in registration order (the order of an operator's night), not A-Z."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    cls=Commands, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option("--env", "env_name", metavar="NAME", help="a stored environment (dr configure)")
@click.option("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT)")
@click.option("--config", "config_file", help='a .conf file (the old scripts\' KEY="value")')
@click.version_option(__version__, prog_name="dr")
@click.pass_context
def dr(
    ctx: click.Context, env_name: str | None, project: str | None, config_file: str | None
) -> None:
    """EyewearML disaster recovery: backups, verification, restores, retention and locks."""
    if ctx.invoked_subcommand == "configure":
        return
    environment = resolve(env_name, Path.cwd(), os.environ)
    environment.apply(os.environ)
    ctx.obj = Session(environment, project, config_file)


COMMANDS: tuple[click.Command, ...] = (
    info.info,
    backups.list_backups,
    backups.show,
    verify.verify,
    restore.restore,
    restore.restores,
    restore.status,
    backups.backup,
    retention.retention,
    retention.prune,
    locks.unlock,
    backups.unpack,
    drills.drill,  # recovery drills and the status page
    drills.drills,
    drills.report,
    legacy.import_command,  # the old scripts' backups: register one, compare with them
    legacy.compare_command,
    configure.configure,
)
for _command in COMMANDS:
    dr.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``dr`` console script: runs one command, returns its exit code."""
    from shared.console import failures

    ctx: click.Context | None = None
    try:
        ctx = dr.make_context("dr", list(sys.argv[1:] if argv is None else argv))
        with ctx:
            result = dr.invoke(ctx)
    except click.exceptions.Exit as done:
        return done.exit_code
    except (click.Abort, KeyboardInterrupt):  # "no" at a question, or Ctrl-C
        click.echo("stopped: nothing further was requested", err=True)
        return INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return RequestError.exit_code
    except DRError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        translated = failures.translate(exc, _where(ctx))
        if translated is None:
            raise
        click.echo(f"error: {translated}", err=True)
        return translated.exit_code
    return result if isinstance(result, int) else 0


def _where(ctx: click.Context | None) -> str:
    session = ctx.obj if ctx is not None else None
    return session.environment.label if isinstance(session, Session) else "the environment"


if __name__ == "__main__":
    sys.exit(main())
