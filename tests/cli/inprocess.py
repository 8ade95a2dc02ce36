"""Running `attnforge` in the test process and reading its one error line (shared by the CLI
tests that need no subprocess)."""

from __future__ import annotations

import pytest

from attnforge.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`attnforge ARGV` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def one_error(result: tuple[int, str, str]) -> str:
    """The single `attnforge: error:` line of a run that exited 2."""
    code, _, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error:"), err
    return lines[0]
