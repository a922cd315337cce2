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
        (("release", "--load", "1", "--reason", "known late file"), 1, "warehouse.duckdb does not exist"),
        (("release", "--load", "0", "--reason", "x"), 2, "'0' is not a positive whole number"),
        (("release", "--load", "1"), 2, "the following arguments are required: --reason"),
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


def test_version():
    from importlib import metadata

    done = cosell("--version", home="/nonexistent")
    assert done.returncode == 0 and done.stdout.strip() == f"cosell {metadata.version('cosell-warehouse')}"


def test_help_describes_commands_options_defaults_and_environment(tmp_path):
    from cosell.config import ENVIRONMENT

    top = cosell("--help", home=tmp_path).stdout
    for name in ("generate", "land", "build", "check", "run", "release", "payouts", "demo"):
        assert f"    {name} " in top  # each command with its description
    for variable, text in ENVIRONMENT.items():
        assert variable in top and text in top
    generate = cosell("generate", "--help", home=tmp_path).stdout
    assert "random seed" in generate and "(default: 7)" in generate and "(default: 2026-01-01)" in generate
    approve = cosell("payouts", "approve", "--help", home=tmp_path).stdout
    assert "who approves (default: the login name)" in approve and "COSELL_WAREHOUSE" in approve
    assert "(default: None)" not in approve


@pytest.mark.parametrize(
    "layout, message",
    [
        ((), "(it is empty)"),  # an empty folder
        (("deals/2026-03-01/a.csv",), "looks like a feed or date folder"),  # pointed one folder too deep: inbox/deals
        (("2026-03-01/a.csv",), "found 1 entry such as '2026-03-01/a.csv'"),
        (("notes.txt",), "found 1 entry such as 'notes.txt'"),
    ],
)
def test_land_refuses_a_folder_without_the_inbox_layout(tmp_path, layout, message):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for rel in layout:
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_text("deal_id\nD1\n")
    target = inbox / "deals" if layout and layout[0].startswith("deals/") else inbox
    home = tmp_path / "home"
    done = cosell("land", "--inbox", str(target), home=home)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "<inbox>/<feed>/<YYYY-MM-DD>/<file>" in lines[0] and message in lines[0], done.stderr
    assert not (home / "warehouse.duckdb").exists()
