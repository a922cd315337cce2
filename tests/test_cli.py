"""The `cosell` command line: every failure is one line on stderr and a non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest


def cosell(*args: str, home) -> subprocess.CompletedProcess:
    env = {"COSELL_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "cosell.cli", *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        ((), 2, "cosell: error: the following arguments are required: command"),
        (("payouts", "run", "--period", "2026-13", "--out", "x"), 2, "'2026-13' is not a period YYYY-MM"),
        (("generate", "--out", "x", "--deals", "0"), 2, "'0' is not a positive whole number"),
        (("check", "staging"), 2, "invalid choice: 'staging'"),
        (("land", "--inbox", "/no/such/inbox"), 1, "inbox /no/such/inbox is not a folder"),
        (("build",), 1, "warehouse.duckdb does not exist"),
        (("build", "--full-refresh", "--unit-tests"), 1, "warehouse.duckdb does not exist"),
        (("check", "raw"), 1, "warehouse.duckdb does not exist"),
        (("payouts", "run", "--period", "2026-03", "--out", "out"), 1, "warehouse.duckdb does not exist"),
    ],
)
def test_failures_are_one_line_and_non_zero(tmp_path, args, code, message):
    home = tmp_path / "home"
    done = cosell(*args, home=home)
    assert done.returncode == code
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (home / "warehouse.duckdb").exists()
