"""Approved periods under tampering and crashes: nothing booked from altered files, approval atomic across files and warehouse."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from payout_marts import T, build_warehouse, deal, make_settings
from test_payouts_lifecycle import PERIOD, scenario, tree

from cosell.errors import CosellError
from cosell.payouts import custody
from cosell.payouts import files as F
from cosell.payouts.lifecycle import approve_period, run_period


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


def lines_table(s) -> list[tuple]:
    with duckdb.connect(str(s.warehouse), read_only=True) as con:
        return con.execute("select * from payouts.lines order by all").fetchall()


def approvals(s) -> list[tuple]:
    with duckdb.connect(str(s.warehouse), read_only=True) as con:
        return con.execute("select period, approved_by, manifest_sha256 from payouts.approvals").fetchall()


def edit(path: Path, old: str, new: str) -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def approved(settings, out: Path) -> None:
    run_period(PERIOD, out, settings)
    approve_period(PERIOD, out, settings, approved_by="fin")


def changed_data(settings) -> None:
    build_warehouse(settings, **scenario(D61=deal("D61", "P6", "2000.00", T(2026, 3, 15))))


def test_a_hand_edited_approved_amount_stops_the_run_and_books_nothing(settings, tmp_path):
    out = tmp_path / "out"
    approved(settings, out)
    before_lines, before_tree = lines_table(settings), tree(out)
    edit(out / PERIOD / F.LINES_CSV, "6000.00", "6600.00")
    changed_data(settings)
    with pytest.raises(CosellError, match=r"payout_lines\.csv differs from its manifest.*nothing was booked"):
        run_period(PERIOD, out, settings)
    assert lines_table(settings) == before_lines
    assert not (out / PERIOD / "adjustments").exists()
    assert {k: v for k, v in tree(out).items() if k != f"{PERIOD}/{F.LINES_CSV}"} == {
        k: v for k, v in before_tree.items() if k != f"{PERIOD}/{F.LINES_CSV}"}


def test_an_edit_that_also_rewrites_the_manifest_is_caught_by_the_warehouse_record(settings, tmp_path):
    out = tmp_path / "out"
    approved(settings, out)
    lines = out / PERIOD / F.LINES_CSV
    edit(lines, "6000.00", "6600.00")
    manifest_path = out / PERIOD / F.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][F.LINES_CSV]["sha256"] = F.sha256(lines.read_bytes())
    manifest_path.chmod(0o644)
    manifest_path.write_bytes(F.render_json(manifest))
    before = lines_table(settings)
    with pytest.raises(CosellError, match=r"manifest\.json differs from the approval recorded in the warehouse"):
        run_period(PERIOD, out, settings)
    with pytest.raises(CosellError, match=r"manifest\.json differs from the approval recorded in the warehouse"):
        approve_period(PERIOD, out, settings, approved_by="fin")
    assert lines_table(settings) == before


def test_an_edited_adjustment_set_stops_the_next_run(settings, tmp_path):
    out = tmp_path / "out"
    approved(settings, out)
    changed_data(settings)
    run_period(PERIOD, out, settings)
    before = lines_table(settings)
    edit(out / PERIOD / "adjustments" / "1" / F.ADJUSTMENT_CSV, "12.50", "112.50")
    build_warehouse(settings, **scenario(D61=deal("D61", "P6", "3000.00", T(2026, 3, 15))))
    with pytest.raises(CosellError, match=r"adjustments/1/adjustment_lines\.csv differs from its manifest"):
        run_period(PERIOD, out, settings)
    assert lines_table(settings) == before and not (out / PERIOD / "adjustments" / "2").exists()


def test_files_that_say_approved_without_a_warehouse_record_are_refused(settings, tmp_path):
    out = tmp_path / "out"
    approved(settings, out)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("delete from payouts.approvals")
    with pytest.raises(CosellError, match="says APPROVED but the warehouse holds no approval"):
        run_period(PERIOD, out, settings)


# ------------------------------------------------------------------ kill -9 at every step boundary


def cosell(settings, *args, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    env.update(COSELL_HOME=str(settings.home), COSELL_WAREHOUSE=str(settings.warehouse), COSELL_DUCKDB_THREADS="1")
    if crash_at:
        env["COSELL_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "cosell.cli", *args], env=env, capture_output=True, text=True, timeout=300)


def is_document(name: str) -> bool:
    """The workbook and statements: an approval writes the approval instant (wall clock) on them."""
    return name.endswith(".xlsx") or "/statements/" in f"/{name}"


def normalised(out: Path) -> dict:
    """The files of a period, without the approval instant and what holds or hashes it (checked apart)."""
    result = {}
    for name, content in tree(out).items():
        if is_document(name):
            continue
        if name.endswith(F.MANIFEST):
            document = json.loads(content)
            for key in ("approved_at", "approved_manifest_sha256"):
                document.pop(key, None)
            document["files"] = {k: v for k, v in document.get("files", {}).items() if not is_document(k)}
            result[name] = document
        else:
            result[name] = content
    modes = {str(p.relative_to(out)): p.stat().st_mode & stat.S_IWUSR for p in out.rglob("*") if p.is_file()}
    return {"files": result, "writable": modes}


def state(settings, out: Path) -> tuple:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        lines = con.execute("select * from payouts.lines order by all").fetchall()
        approved = con.execute("select period, approved_by, files_dir from payouts.approvals").fetchall() if con.execute(
            "select count(*) from information_schema.tables where table_name = 'approvals'").fetchone()[0] else []
    return normalised(out), lines, approved


STEPS = [
    ("run", "payouts:draft-recorded"),
    ("run", "payouts:draft-written"),
    ("rerun", "payouts:swap"),
    ("approve", "approve:recorded"),
    ("approve", "approve:first-file-written"),
    ("approve", "approve:manifest-written"),
    ("adjust", "payouts:adjustment-written"),
    ("adjust", "payouts:swap"),
]


@pytest.mark.slow
@pytest.mark.parametrize("step, point", STEPS, ids=[f"{s}-{p}" for s, p in STEPS])
def test_killed_at_each_step_then_rerun_equals_an_undisturbed_run(settings, tmp_path, step, point):
    out = str(tmp_path / "out")
    run = ("payouts", "run", "--period", PERIOD, "--out", out)
    approve = ("payouts", "approve", "--period", PERIOD, "--out", out, "--by", "fin")
    before = {"run": [], "rerun": [run], "approve": [run], "adjust": [run, approve]}[step]
    command = {"run": run, "rerun": run, "approve": approve, "adjust": run}[step]
    for args in before:
        assert cosell(settings, *args).returncode == 0
    if step == "adjust":
        changed_data(settings)
    saved = tmp_path / "saved"
    shutil.copytree(out, saved / "out") if Path(out).exists() else None
    (saved / "warehouse.duckdb").parent.mkdir(exist_ok=True)
    shutil.copy2(settings.warehouse, saved / "warehouse.duckdb")

    killed = cosell(settings, *command, crash_at=point)
    assert killed.returncode == -9, killed.stderr
    again = cosell(settings, *command)
    assert again.returncode == 0, again.stderr
    if step == "approve":  # a second approve after a completed one reports it, changes nothing
        assert cosell(settings, *approve).returncode == 0
    assert not [p for p in Path(out).rglob(".*")], "temporary files left behind"
    recovered = state(settings, Path(out))
    if step == "approve":  # the documents and manifest are exactly what approval renders for the recorded who and when
        record = custody.approval(settings, PERIOD)
        draft = json.loads((saved / "out" / PERIOD / F.MANIFEST).read_text())
        written = custody.approved_files(saved / "out" / PERIOD, draft, record.approved_by, record.approved_at_text)
        assert {name: (Path(out) / PERIOD / name).read_bytes() for name in written} == written
        assert F.sha256(written[F.MANIFEST]) == record.manifest_sha256

    # the same step, undisturbed, from the same starting point (same paths: the approval records its folder)
    make_writable(Path(out))
    shutil.rmtree(out)
    if (saved / "out").exists():
        shutil.copytree(saved / "out", out)
    shutil.copy2(saved / "warehouse.duckdb", settings.warehouse)
    assert cosell(settings, *command).returncode == 0
    expected = state(settings, Path(out))
    assert recovered[0] == expected[0]
    assert recovered[1] == expected[1]
    assert recovered[2] == expected[2]


def make_writable(folder: Path) -> None:
    for path in folder.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
