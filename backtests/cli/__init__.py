"""The ``capex-rotation`` command line (typer + rich).

Errors the user can fix print one line on stderr and exit with code 2; ``--debug`` shows the
traceback instead. Progress goes to stderr, the summary table to stdout. Ctrl-C (SIGINT) exits
with code 130 and one line, whenever it comes (during imports, a run or the writing of a
report), and nothing half-written is left: see :func:`data.atomic.raise_if_interrupted`.

This module stays tiny: the console script imports it before anything else, so the interrupt
handler is in place before the heavy imports start.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

from data.atomic import mark_interrupted, was_interrupted

INTERRUPTED_EXIT = 130
_WHOLE_PROCESS = False  # main() runs the process (argv from the command line), not a test


def _on_sigint(signum, frame) -> None:
    # Remember it (a library that swallows KeyboardInterrupt cannot make the run look
    # finished: outputs refuse to commit, and main() still exits 130), then interrupt.
    mark_interrupted()
    raise KeyboardInterrupt


def _print_error(text: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True
    )


def _interrupted(message: str = "interrupted; nothing was written") -> int:
    if _WHOLE_PROCESS:
        # One Ctrl-C is handled once: a second one during the clean-up and the interpreter's
        # shutdown (joining pool threads) must not turn exit 130 into death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return INTERRUPTED_EXIT


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _on_sigint):
        signal.signal(signal.SIGINT, _on_sigint)
    global _WHOLE_PROCESS
    _WHOLE_PROCESS = argv is None
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = _run(args, debug)
    except KeyboardInterrupt:
        return _interrupted()
    if was_interrupted() and code != INTERRUPTED_EXIT:
        return _interrupted()
    return code


def entry() -> None:
    """The ``capex-rotation`` script and ``python -m backtests``: exit with main()'s code. An
    interrupted run (130) has already rolled back its outputs; it leaves at once, without the
    interpreter's shutdown (joining pool threads, atexit hooks), during which a late Ctrl-C
    would kill it by SIGINT instead of exit 130."""
    try:
        code = main()
    except KeyboardInterrupt:  # one that arrived after main() had returned
        code = INTERRUPTED_EXIT
    if code == INTERRUPTED_EXIT:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED_EXIT)
    sys.exit(code)


def _run(args: list[str], debug: bool) -> int:
    import typer

    from backtests.cli.app import app
    from data.errors import CapexRotationError, Interrupted

    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="capex-rotation", standalone_mode=False)
    except Interrupted as exc:
        return _interrupted(str(exc))
    except CapexRotationError as exc:
        if debug:
            traceback.print_exc()
        _print_error(str(exc))
        return getattr(exc, "exit_code", 2)
    except typer.Abort as exc:  # click's wrapper of KeyboardInterrupt
        if debug:
            traceback.print_exc()
        if isinstance(exc.__context__, KeyboardInterrupt) or was_interrupted():
            return _interrupted()
        _print_error("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: unknown option, missing value...
        if debug:
            traceback.print_exc()
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _print_error(f"{message} (see capex-rotation --help)")
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True).print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
                "(rerun with --debug for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
        return 1
    # typer turns a KeyboardInterrupt into Exit(130), which returns 130 here (standalone mode
    # off); any other typer.Exit(code) returns its code too.
    if result == INTERRUPTED_EXIT:
        return _interrupted()
    return result if isinstance(result, int) else 0
