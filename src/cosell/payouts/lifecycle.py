"""Payout period lifecycle: DRAFT runs written atomically, approval that freezes a period, adjustment sets after it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

from cosell.config import PLANS_DIR, Settings, login_name
from cosell.db import connect
from cosell.errors import CosellError
from cosell.faults import crash_point
from cosell.payouts import custody, ledger
from cosell.payouts import files as F
from cosell.payouts.engine import EngineOutput, run_engine
from cosell.payouts.plans import Plan, load_plans, plan_for
from cosell.payouts.rules import ZERO, Period, money_text, parse_period, rule_order
from cosell.payouts.workbook_process import WorkbookProcess


@dataclass(frozen=True)
class RunSummary:
    period: str
    status: str  # DRAFT, ADJUSTMENT or UNCHANGED
    folder: Path
    lines: int
    partners: int
    total_usd: Decimal
    plan_id: str
    warnings: tuple[str, ...] = ()  # one line each; the command line prints them on stderr

    def describe(self) -> str:
        if self.status == "UNCHANGED":
            return f"payouts {self.period} is approved and nothing changed since: no adjustment set written"
        if self.status == "ADJUSTMENT":
            return (f"payouts {self.period} is approved: adjustment set {self.folder.name} with {self.lines} line(s), "
                    f"net {money_text(self.total_usd)} USD written to {self.folder}")
        return (f"payouts {self.period} DRAFT: {self.lines} line(s) for {self.partners} partner(s), total "
                f"{money_text(self.total_usd)} USD (plan {self.plan_id}) written to {self.folder}")


@dataclass(frozen=True)
class ApprovalSummary:
    period: str
    folder: Path
    approved_by: str
    approved_at: str
    total_usd: str
    already: bool = False

    def describe(self) -> str:
        state = "was already approved" if self.already else "approved"
        return f"payouts {self.period} {state} by {self.approved_by} at {self.approved_at}: {self.total_usd} USD, files in {self.folder} are frozen"


# ---------------------------------------------------------------- rendering


def draft_files(records: F.Records, draft: dict[str, Any], workbook: WorkbookProcess) -> Iterator[tuple[str, bytes]]:
    """Every file of a DRAFT period as (name, bytes), manifest last; the workbook's bytes are awaited after the
    CSVs and statements, which are rendered (and written, by the caller) while its process renders it.

    `records` are F.period_records(result), `draft` the DRAFT manifest without files, `workbook` the process
    rendering the workbook from both.
    """
    files: dict[str, dict[str, Any]] = {}
    csvs = ((F.LINES_CSV, F.LINE_COLUMNS), (F.SUMMARY_CSV, F.SUMMARY_COLUMNS), (F.MDF_CSV, F.MDF_COLUMNS))
    for name, columns in csvs:
        content = F.render_csv(columns, records[name])
        files[name] = F.file_entry(content, len(records[name]))
        yield name, content
    for name, (content, rows) in F.render_statements(records, draft).items():
        files[name] = F.file_entry(content, rows)
        yield name, content
    name, content = F.workbook_name(draft["period"]), workbook.bytes()
    files[name] = F.file_entry(content, len(records[F.LINES_CSV]))
    yield name, content
    yield F.MANIFEST, F.render_json(dict(draft, files=files))


def run_warnings(period: Period, output: EngineOutput, plan_id: str) -> tuple[str, ...]:
    """What a person running a period should know before reading its files (pure)."""
    as_of = output.as_of_date
    warnings = []
    if as_of is None or as_of < period.last_day:
        warnings.append(
            f"period {period.label} had not ended by the warehouse as_of_date {as_of or 'unknown'}: the DRAFT is a "
            f"preview, its amounts will change and it cannot be approved before data through {period.last_day} is in"
        )
    if output.deals_in_period == 0:
        warnings.append(
            f"period {period.label} has no partner deals in the warehouse (none registered, closed or in technical "
            f"validation in it): check --period and that its extracts were landed"
        )
    elif not output.result.lines:
        warnings.append(
            f"period {period.label} has {output.deals_in_period} partner deal(s) but no payout lines: none "
            f"qualified under plan {plan_id}, every total is 0.00"
        )
    return tuple(warnings)


def adjustment_rows(issued: dict[str, tuple[dict[str, str], Decimal]], recomputed: list[dict[str, str]],
                    order: list[str]) -> list[dict[str, str]]:
    """Rows for every line whose amount differs from what was issued (pure)."""
    new = {record["line_id"]: record for record in recomputed}
    position = {rule_id: index for index, rule_id in enumerate(order)}
    rows = []
    for line_id in set(issued) | set(new):
        before = issued.get(line_id)
        issued_amount = before[1] if before else ZERO
        after = new.get(line_id)
        recomputed_amount = Decimal(after["amount_usd"]) if after else ZERO
        difference = recomputed_amount - issued_amount
        if difference == 0:
            continue
        base = dict(after if after else before[0])
        was, now = money_text(issued_amount), money_text(recomputed_amount)
        if after is None:
            text = f"Clawback: this line no longer qualifies on the current data (issued {was} USD, now 0.00 USD). Was: "
        elif before is None:
            text = f"New line after approval (issued {was} USD, now {now} USD): "
        else:
            text = f"Adjustment: recomputed {now} USD against {was} USD issued. "
        base["explanation"] = text + base["explanation"]
        base["amount_usd"] = money_text(difference)
        base["issued_amount_usd"] = was
        base["recomputed_amount_usd"] = now
        rows.append(base)
    rows.sort(key=lambda r: (r["partner_id"], position.get(r["rule_id"], len(position)), r["rule_id"], r["deal_id"], r["line_id"]))
    return rows


def _decimal(text: str, where: str) -> Decimal:
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        raise CosellError(f"{where}: {text!r} is not an amount; the approved files were altered") from None


def issued_lines(period_dir: Path, sets: list[int]) -> dict[str, tuple[dict[str, str], Decimal]]:
    """line_id -> (latest fields, cumulative issued amount): the approved lines plus every adjustment set."""
    issued: dict[str, tuple[dict[str, str], Decimal]] = {}
    for record in F.parse_csv((period_dir / F.LINES_CSV).read_bytes()):
        issued[record["line_id"]] = (record, _decimal(record["amount_usd"], F.LINES_CSV))
    for n in sets:
        path = period_dir / "adjustments" / str(n) / F.ADJUSTMENT_CSV
        for record in F.parse_csv(path.read_bytes()):
            fields = {name: record[name] for name in F.LINE_COLUMNS}
            fields["amount_usd"] = record["recomputed_amount_usd"]
            previous = issued.get(record["line_id"], (fields, ZERO))[1]
            issued[record["line_id"]] = (fields, previous + _decimal(record["amount_usd"], str(path)))
    return issued


# ---------------------------------------------------------------- file system edge


def _read_manifest(period_dir: Path) -> dict[str, Any] | None:
    path = period_dir / F.MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise CosellError(f"{path} is not a readable manifest ({error}); restore it or remove the folder") from None


def _write_tree(folder: Path, contents: Iterable[tuple[str, bytes]]) -> list[str]:
    """Write each (name, bytes) as it comes; the names written."""
    names = []
    for name, content in contents:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        names.append(name)
    return names


def _publish_dir(contents: Iterable[tuple[str, bytes]], target: Path, freeze: bool = False) -> None:
    """Write the (name, bytes) into a temp folder beside target, then move it into place (replacing a DRAFT)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    temp = target.parent / f".{target.name}.tmp-{tag}"
    old = target.parent / f".{target.name}.old-{tag}"
    try:
        temp.mkdir()
        names = _write_tree(temp, contents)
        if freeze:
            custody.freeze(temp, names)
        if target.exists():
            target.rename(old)
        crash_point("payouts:swap")
        temp.rename(target)
    except OSError as error:
        if old.exists() and not target.exists():
            old.rename(target)
        raise CosellError(f"could not write {target}: {error}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _recording(settings: Settings, period: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write transaction around the file step: committed after the files are in place, rolled back if not.

    The warehouse is opened before any file is written, so a locked warehouse fails the run with nothing changed.
    """
    con = connect(settings)  # a missing or locked warehouse is a one-line CosellError
    try:
        con.execute("begin transaction")
        try:
            yield con
        except BaseException:
            try:
                con.execute("rollback")
            except duckdb.Error:
                pass  # the transaction is gone already; nothing was committed
            raise
        try:
            con.execute("commit")
        except duckdb.Error as error:
            raise CosellError(
                f"payout files for {period} are written but {ledger.LINES_TABLE} could not be updated "
                f"({str(error).splitlines()[0]}): run the period again to record them"
            ) from None
    except duckdb.Error as error:
        raise CosellError(f"could not record {period} in {ledger.LINES_TABLE}: {str(error).splitlines()[0]}") from None
    finally:
        con.close()


def _issued_ledger_rows(period_dir: Path, manifest: dict[str, Any], sets: list[int]) -> dict[int | None, list]:
    """payouts.lines rows of what an approved period has issued: its approved lines (None) and each set n."""
    rows: dict[int | None, list] = {
        None: ledger.line_rows(F.parse_csv((period_dir / F.LINES_CSV).read_bytes()), ledger.APPROVED,
                               manifest.get("plan_id")),
    }
    for n in sets:
        folder = period_dir / "adjustments" / str(n)
        plan_id = (_read_manifest(folder) or {}).get("plan_id")
        rows[n] = ledger.line_rows(F.parse_csv((folder / F.ADJUSTMENT_CSV).read_bytes()), ledger.APPROVED, plan_id,
                                   adjustment_set=n)
    return rows


def _sync_issued(con: duckdb.DuckDBPyConnection, period: str, recorded: dict[int | None, list]) -> None:
    """Bring an approved period's rows in line with its frozen files (writes only what differs)."""
    for adjustment_set, rows in recorded.items():
        ledger.replace_rows(con, period, rows, adjustment_set)


# ---------------------------------------------------------------- commands


def _plan(period: Period, plans_dir: Path | None) -> Plan:
    return plan_for(load_plans(Path(plans_dir or PLANS_DIR)), period.first_day)


def run_period(period: str, out: Path, settings: Settings, plans_dir: Path | None = None) -> RunSummary:
    """Compute a period; write its DRAFT files, or an adjustment set when the period is approved."""
    p = parse_period(period)
    plan = _plan(p, plans_dir)
    out = Path(out)
    period_dir = out / p.label
    custody.clean_leftovers(period_dir)
    manifest = _read_manifest(period_dir)
    if manifest is None and period_dir.exists():
        raise CosellError(f"{period_dir} exists but holds no manifest.json: move it away before running {p.label}")
    record = custody.approval(settings, p.label)
    manifest = _settle_approval(period_dir, manifest, record, p.label)
    approved = manifest is not None and manifest.get("status") == "APPROVED"
    if approved:
        sets = custody.verify(period_dir, (period_dir / F.MANIFEST).read_bytes(), record)
    output = run_engine(plan, p, settings)
    result = output.result
    if not approved:
        records = F.period_records(result)
        draft = F.period_manifest(result, plan, output.as_of_date, {})
        with WorkbookProcess(records, draft) as workbook:  # on the other core while the rest is written
            rows = ledger.line_rows(records[F.LINES_CSV], ledger.DRAFT, plan.plan_id)
            with _recording(settings, p.label) as con:
                ledger.replace_rows(con, p.label, rows)
                crash_point("payouts:draft-recorded")
                _publish_dir(draft_files(records, draft, workbook), period_dir)
                crash_point("payouts:draft-written")
        return RunSummary(p.label, "DRAFT", period_dir, len(result.lines), len(result.summaries), result.total_usd,
                          plan.plan_id, run_warnings(p, output, plan.plan_id))

    issued = issued_lines(period_dir, sets)
    recorded = _issued_ledger_rows(period_dir, manifest, sets)
    order = rule_order(plan)
    rows = adjustment_rows(issued, [F.line_record(line) for line in result.lines], order)
    if not rows:
        with _recording(settings, p.label) as con:
            _sync_issued(con, p.label, recorded)
        return RunSummary(p.label, "UNCHANGED", period_dir, 0, 0, ZERO, plan.plan_id)
    n = (sets[-1] if sets else 0) + 1
    csv_bytes = F.render_csv(F.ADJUSTMENT_COLUMNS, rows)
    totals: dict[str, dict[str, Any]] = {}
    for rule_id in order + sorted({r["rule_id"] for r in rows} - set(order)):
        chosen = [Decimal(r["amount_usd"]) for r in rows if r["rule_id"] == rule_id]
        totals[rule_id] = {"lines": len(chosen), "amount_usd": money_text(sum(chosen, ZERO))}
    net = sum((Decimal(r["amount_usd"]) for r in rows), ZERO)
    approved_manifest = (period_dir / F.MANIFEST).read_bytes()
    adjustment_manifest = F.render_json({
        "period": p.label,
        "adjustment": n,
        "status": "ISSUED",
        "plan_id": plan.plan_id,
        "plan_file": plan.file_name,
        "plan_sha256": plan.sha256,
        "as_of_date": output.as_of_date.isoformat() if output.as_of_date else None,
        "approved_manifest_sha256": F.sha256(approved_manifest),
        "previous_adjustments": sets,
        "files": {F.ADJUSTMENT_CSV: F.file_entry(csv_bytes, len(rows))},
        "control_totals": totals,
        "total_usd": money_text(net),
    })
    target = period_dir / "adjustments" / str(n)
    issued_rows = ledger.line_rows(rows, ledger.APPROVED, plan.plan_id, adjustment_set=n)
    with _recording(settings, p.label) as con:
        _sync_issued(con, p.label, recorded)
        ledger.replace_rows(con, p.label, issued_rows, adjustment_set=n)
        custody.record_set(con, p.label, n, adjustment_manifest)
        _publish_dir([(F.ADJUSTMENT_CSV, csv_bytes), (F.MANIFEST, adjustment_manifest)], target, freeze=True)
        crash_point("payouts:adjustment-written")
    return RunSummary(p.label, "ADJUSTMENT", target, len(rows), len({r["partner_id"] for r in rows}), net, plan.plan_id)


def _settle_approval(period_dir: Path, manifest: dict[str, Any] | None, record: custody.Approval | None,
                     label: str) -> dict[str, Any] | None:
    """Make the files and the warehouse agree on whether the period is approved, or stop with one line."""
    status = manifest.get("status") if manifest else None
    if record is None:
        if status == "APPROVED":
            raise CosellError(f"{period_dir / F.MANIFEST} says APPROVED but the warehouse holds no approval of {label}: "
                              "the files were altered or the warehouse replaced; restore them")
        return manifest
    if Path(record.files_dir) != period_dir.resolve():
        raise CosellError(
            f"period {label} was approved by {record.approved_by} at {record.approved_at:%Y-%m-%d %H:%M} with files "
            f"in {record.files_dir}: run with that --out to get an adjustment set"
        )
    if status == "DRAFT":  # an approval cut short after it was recorded: finish it
        custody.complete(period_dir, manifest, record)
        return _read_manifest(period_dir)
    if status != "APPROVED":
        raise CosellError(f"period {label} is approved in the warehouse but {period_dir / F.MANIFEST} is missing: "
                          "restore the approved files")
    custody.freeze(period_dir, sorted(manifest.get("files", {})) + [F.MANIFEST])
    return manifest


def approve_period(period: str, out: Path, settings: Settings, approved_by: str | None = None) -> ApprovalSummary:
    """Freeze a DRAFT period: the approval recorded in payouts.approvals, then the manifest APPROVED, files read-only."""
    p = parse_period(period)
    period_dir = Path(out) / p.label
    custody.clean_leftovers(period_dir)
    manifest = _read_manifest(period_dir)
    if manifest is None:
        raise CosellError(f"no payout files for {p.label} in {out}: run `cosell payouts run --period {p.label}` first")
    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: run `cosell run` first")
    record = custody.approval(settings, p.label)
    if record is not None:
        manifest = _settle_approval(period_dir, manifest, record, p.label)
        custody.verify(period_dir, (period_dir / F.MANIFEST).read_bytes(), record)
        return ApprovalSummary(p.label, period_dir, record.approved_by, record.approved_at_text,
                               manifest.get("total_usd", "?"), already=True)
    if manifest.get("status") == "APPROVED":
        _settle_approval(period_dir, manifest, None, p.label)  # raises: files approved, warehouse not
    if manifest.get("status") != "DRAFT" or manifest.get("period") != p.label:
        raise CosellError(f"{period_dir / F.MANIFEST} is not a DRAFT manifest of {p.label}")
    try:
        custody.verify_files(period_dir, manifest, "draft")
    except CosellError:
        raise CosellError(f"a file in {period_dir} differs from its manifest: rerun "
                          f"`cosell payouts run --period {p.label}` before approving") from None
    as_of = manifest.get("as_of_date")
    if as_of is None or dt.date.fromisoformat(as_of) < p.last_day:
        raise CosellError(
            f"period {p.label} had not ended by the warehouse as_of_date {as_of}: "
            f"approve after data through {p.last_day} is landed and the period is rerun"
        )
    who = approved_by or login_name()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    approved_at = custody.instant_text(now)
    contents = custody.approved_files(period_dir, manifest, who, approved_at)
    con = connect(settings)  # a missing or locked warehouse is a one-line CosellError
    try:
        con.execute(custody.DDL)
        con.execute("begin transaction")
        if con.execute("select count(*) from payouts.approvals where period = ?", [p.label]).fetchone()[0]:
            raise CosellError(f"period {p.label} is already approved in the warehouse (payouts.approvals)")
        con.execute(
            "insert into payouts.approvals values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [p.label, who, now, manifest.get("plan_id"), manifest.get("plan_sha256"), as_of,
             Decimal(manifest.get("total_usd", "0")), F.sha256(contents[F.MANIFEST]), str(period_dir.resolve())],
        )
        # the period's rows become APPROVED: taken from the verified payout_lines.csv, so they are what was approved
        approved_rows = ledger.line_rows(F.parse_csv((period_dir / F.LINES_CSV).read_bytes()), ledger.APPROVED,
                                         manifest.get("plan_id"))
        ledger.replace_rows(con, p.label, approved_rows)
        con.execute("commit")
    except BaseException:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass  # no transaction was open
        raise
    finally:
        con.close()
    crash_point("approve:recorded")
    try:
        custody.write_files(period_dir, contents)
        crash_point("approve:manifest-written")
        custody.freeze(period_dir, sorted(manifest.get("files", {})) + [F.MANIFEST])
    except OSError as error:
        raise CosellError(f"approval of {p.label} is recorded but its files could not be frozen ({error}): "
                          f"run `cosell payouts approve --period {p.label}` again to finish it") from None
    return ApprovalSummary(p.label, period_dir, who, approved_at, manifest.get("total_usd", "?"))
