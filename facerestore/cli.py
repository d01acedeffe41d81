"""The ``facerestore`` command group. Subcommands are imported only when they run (or when ``--help``
lists them), and command modules import only click at import time, so ``--help``/``--version`` are instant."""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
from typing import Any

import click

from facerestore import __version__

# name -> "module:attribute" of the click command object.
COMMANDS: dict[str, str] = {
    "enhance": "facerestore.commands.enhance:enhance",
    "models": "facerestore.commands.models:models",
    "degrade": "facerestore.commands.degrade:degrade",
    "report": "facerestore.commands.report:report",
    "compare": "facerestore.commands.compare:compare",
    "analyze": "facerestore.commands.analyze:analyze",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported from ``COMMANDS`` on first use."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            command = self._load(cmd_name)
            if ctx.auto_envvar_prefix is not None:
                name_envvars(command, f"{ctx.auto_envvar_prefix}_{cmd_name.upper().replace('-', '_')}")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # stdout's reader has gone (`facerestore analyze . | head -1`): stop quietly with 141, as a command that
        # SIGPIPE ended, not click's exit 1, which reads as "some files failed". (enhance stops a run itself.)
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            _name_the_variable(exc)
            raise
        except BrokenPipeError:
            from facerestore.console import discard_stdout
            from facerestore.summary import EXIT_STDOUT_CLOSED

            discard_stdout()
            raise click.exceptions.Exit(EXIT_STDOUT_CLOSED) from None
        except (KeyboardInterrupt, ImportError) as exc:
            # A Ctrl-C outside a command's exit_on_error (its module's import, its options, its console) ends it as
            # one inside does, not with click's "Aborted!" and exit 1. An extension module being imported when it
            # came (onnxruntime's, as the model opens) raises ImportError("initialization failed") from it.
            interrupt = exc if isinstance(exc, KeyboardInterrupt) else exc.__cause__
            if not isinstance(interrupt, KeyboardInterrupt):
                raise
            from facerestore.commands import interrupted

            raise interrupted(interrupt) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # A command whose module is not installed is left out of --help instead of breaking it.
        rows = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except click.ClickException:
                continue
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _load(self, name: str) -> click.Command:
        module_name, attr = self.lazy_commands[name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise click.ClickException(f"command {name!r} is not available in this installation") from exc
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[name]} is not a click command")
        return command


def name_envvars(command: click.Command, prefix: str) -> None:
    """Name each option's environment variable after its long option, as README documents.

    click's automatic name follows the Python parameter (``--json`` stored as ``json_lines`` would read
    ``PREFIX_JSON_LINES``); that name still works as a fallback, so nothing set before stops working.
    """
    for param in command.params:
        if not isinstance(param, click.Option) or param.envvar is not None or not param.expose_value:
            continue  # arguments, options given their own variable, and --help
        long_names = [opt for opt in param.opts if opt.startswith("--")]
        if long_names:
            param.envvar = f"{prefix}_{long_names[0][2:].upper().replace('-', '_')}"
        _noting_the_variable(param)


def _name_the_variable(exc: click.BadParameter) -> None:
    """A bad value read from an environment variable names that variable beside the option: the user who set it in
    a profile never typed the option the message names."""
    variable = exc.ctx.meta.get(_FROM_VARIABLE, {}).get(exc.param.name) if exc.ctx and exc.param else None
    if variable is not None and exc.param_hint is None:
        exc.param_hint = f"{exc.param.get_error_hint(exc.ctx)} (from {variable})"


_FROM_VARIABLE = "facerestore.from_variable"  # ctx.meta: option name -> the variable its value came from


def _noting_the_variable(option: click.Option) -> None:
    """Make ``option`` note in its context the variable a value came from: click 8.4 sets a value's source only
    once the value has been converted, after a bad one has raised."""
    consume = option.consume_value

    def consume_value(ctx: click.Context, opts: Any) -> Any:
        value, source = consume(ctx, opts)
        if source is click.core.ParameterSource.ENVIRONMENT:
            # Where click looked, in its order: the option's own variable(s), then the automatic name.
            names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
            if ctx.auto_envvar_prefix is not None and option.name is not None:
                names.append(f"{ctx.auto_envvar_prefix}_{option.name.upper()}")
            variable = next((name for name in names if os.environ.get(name)), None)
            if variable is not None:
                ctx.meta.setdefault(_FROM_VARIABLE, {})[option.name] = variable
        return value, source

    option.consume_value = consume_value  # type: ignore[method-assign]


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "FACERESTORE",
                    "max_content_width": 100}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="facerestore", message="%(prog)s %(version)s")
def cli() -> None:
    """Restore degraded face photos (JPEG blocking, colour banding, blotches) with small CNNs.

    \b
    Typical use:
      facerestore enhance ./photos              # writes ./photos-restored/
      facerestore models                        # the shipped models and their scores
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; exits with the command's code."""
    # Once the exit callbacks have run, CPython gives SIGINT its default action back and tears the modules down
    # (ONNX Runtime's sessions: about 0.1 s), where a late Ctrl-C would end the process by SIGINT instead of with
    # the command's code. Registered before the command runs, this runs after every exit callback it registers
    # (Ray's shutdown): the command has finished, nothing is left to stop.
    atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)
    try:
        cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="facerestore")
    finally:
        # CPython marks a KeyboardInterrupt that ends code run from a string (source given to exec or eval, as
        # dataclasses and namedtuple build their methods while a module imports) as unhandled even once caught,
        # and `python -m facerestore` then ends by SIGINT, not with the command's code (130 after a Ctrl-C).
        # Running source again clears the mark; a Ctrl-C every command has handled by now.
        exec("")
