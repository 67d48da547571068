"""Helpers for tests that drive the command line or check one-line errors."""

from __future__ import annotations

from backtests import cli


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``capex-rotation ARGS``; return (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    """Exit code 2, one "error:" line containing every fragment, no traceback; return the line."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def one_line(exc_info) -> str:
    """The message of a raised error, checked to be a single line."""
    message = str(exc_info.value)
    assert "\n" not in message and "\r" not in message, message
    return message
