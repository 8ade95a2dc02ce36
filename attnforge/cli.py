"""`attnforge` console script: a click group whose subcommands live in attnforge/commands/.

Every user-facing error (`einsum.errors.InputError` and its subclasses) is printed as one line
on stderr with exit code 2; click's own usage errors also exit 2, as one line naming the
command's --help, and so does an OSError on a
path (one line naming it) that a subcommand did not turn into an InputError itself. A group
given no command (``attnforge``, ``attnforge simulate``) prints its help, as click does.
"""

import sys
import warnings

import click

from einsum.errors import InputError

from .commands import COMMANDS

EXIT_BAD_INPUT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="attnforge")
def cli() -> None:
    """attnforge: simulator and design-space explorer for attention hardware."""


for _command in COMMANDS:
    cli.add_command(_command)


def usage_message(error: click.ClickException, argv: list[str] | None = None) -> str:
    """Click's error as one line: its message, and for a usage error the command's help (the
    subcommand named in ``argv`` when click's parser gives no context, e.g. an option left
    without its value)."""
    message = " ".join(error.format_message().split())
    if not isinstance(error, click.UsageError):
        return message
    context = getattr(error, "ctx", None)
    if context is not None:
        return message + f" (see '{context.command_path} --help')"
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in cli.commands:
        return message + f" (see 'attnforge {args[0]} --help')"
    return message


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn InputError into one message and exit code 2."""
    try:
        status = cli.main(args=argv, prog_name="attnforge", standalone_mode=False)
    except InputError as error:
        click.echo(f"attnforge: error: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as error:
        # A path the user gave cannot be created, read or written (a file where a directory
        # should be, no permission, a full disk): one line naming it, as for bad input.
        where = f"{error.filename}: " if error.filename else ""
        click.echo(f"attnforge: error: {where}{error.strerror or error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        # What the interrupted run left half-built (e.g. Amaranth components never elaborated)
        # would warn as it is collected, after this line: nothing of it matters any more.
        warnings.simplefilter("ignore")
        click.echo("attnforge: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as error:  # `attnforge` alone: its help, as help
        error.show()
        sys.exit(error.exit_code)
    except click.ClickException as error:
        click.echo(f"attnforge: error: {usage_message(error, argv)}", err=True)
        sys.exit(EXIT_BAD_INPUT if error.exit_code == 2 else error.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
