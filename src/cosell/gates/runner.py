"""`cosell check raw|marts`: the quality gates (SPEC section 2), run with Great Expectations.

The suites are reviewable files under expectations/ (see expectations/README.md): each names
its datasets (SQL over a READ-ONLY DuckDB connection and the TEMP views of
cosell.gates.queries) and its expectations, each with a severity `fail` or `warn`.
Frames stay bounded: row rules run on the nightly batch (rows of the loads the run ledger
has not seen pass the raw gate, streamed in chunks of CHUNK_ROWS), and whole-table rules are pushed down to DuckDB as SQL
returning only offending rows or a few totals. Every frame is validated by GX (ephemeral context, pandas data source, one
whole-dataframe batch definition per gate, a suite, validation definition and checkpoint per frame);
Data Docs (HTML) and a JSON result are written to <reports_dir>/data_docs/<stage>/.

A failed `fail` expectation makes `check` raise GateFailed (a CosellError) whose one-line
message names every failed expectation with a short sample of offending rows; `warn`
failures are reported but let the run go on.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

import cosell  # noqa: F401  (telemetry off before GX is imported)
from cosell.config import EXPECTATIONS_DIR, Settings
from cosell.db import connect
from cosell.errors import CosellError
from cosell.gates.offline_docs import localise_site
from cosell.gates.queries import create_gate_views, has_schema

STAGES = ("raw", "marts")
SEVERITIES = ("fail", "warn")
SAMPLE_ROWS = 5  # offending rows kept per finding in the JSON result
MESSAGE_ROWS = 2  # offending rows quoted per finding in the one-line error
CHUNK_ROWS = 200_704  # a larger dataset (e.g. a first, historical load) is validated chunk by chunk

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- suite files


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sql: str
    index: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ExpectationSpec:
    suite: str
    name: str
    severity: str
    dataset: str
    expect: str
    kwargs: dict[str, Any]
    where: dict[str, Any] | None = None
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.suite}.{self.name}"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    stage: str
    path: Path
    description: str
    datasets: dict[str, DatasetSpec]
    expectations: tuple[ExpectationSpec, ...]


def import_great_expectations() -> None:
    """Import Great Expectations, or stop with one line where importing it would end the interpreter.

    GX imports pyspark's Spark Connect classes when pyspark is installed (the `spark` extra); pyspark,
    missing its optional grpcio-status, takes a `python -c` or stdin script for one of its doctests
    and calls sys.exit(0): a run would end there with status 0, as if it had succeeded.
    """
    try:
        import great_expectations  # noqa: F401
    except SystemExit:
        raise CosellError(
            "importing Great Expectations ended the interpreter (pyspark's doctest guard stops a `python -c` or "
            "stdin script that imports it): run cosell from its command or from a script file"
        ) from None


def _expectation_class(snake: str):
    import great_expectations.expectations as gxe

    camel = "".join(part.capitalize() for part in snake.split("_"))
    cls = getattr(gxe, camel, None)
    if cls is None:
        raise CosellError(f"unknown Great Expectations expectation {snake!r}")
    return cls


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    """Replace "${name}" strings by settings-derived parameters (e.g. max_reject_rate)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{(\w+)\}", value.strip())
        if match:
            if match.group(1) not in params:
                raise CosellError(f"unknown suite parameter {value!r}")
            return params[match.group(1)]
        return value
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def _read_suite_file(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise CosellError(f"suite file {path} cannot be parsed: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise CosellError(f"suite file {path} is not a mapping")
    return data


def load_suite(path: Path, params: dict[str, Any] | None = None) -> SuiteSpec:
    params = params or {}
    data = _read_suite_file(path)
    where = f"suite file {path.name}"
    name = data.get("suite") or path.stem
    stage = data.get("stage")
    if stage not in STAGES:
        raise CosellError(f"{where}: stage must be one of {STAGES}, not {stage!r}")
    datasets: dict[str, DatasetSpec] = {}
    for ds_name, ds in (data.get("datasets") or {}).items():
        if not isinstance(ds, dict) or not ds.get("sql"):
            raise CosellError(f"{where}: dataset {ds_name!r} needs sql")
        datasets[ds_name] = DatasetSpec(ds_name, ds["sql"], tuple(ds.get("index") or ()), ds.get("description", ""))
    expectations: list[ExpectationSpec] = []
    seen: set[str] = set()
    for item in data.get("expectations") or []:
        e_name = item.get("name")
        severity = item.get("severity")
        dataset = item.get("dataset")
        expect = item.get("expect")
        if not e_name or severity not in SEVERITIES or dataset not in datasets or not expect:
            raise CosellError(
                f"{where}: expectation {e_name!r} needs name, severity (fail|warn), a known dataset and expect"
            )
        _expectation_class(expect)
        kwargs = _substitute(dict(item.get("kwargs") or {}), params)
        columns = item.get("columns")
        variants = [(e_name, kwargs)]
        if columns:
            variants = [(f"{e_name}[{col}]", {**kwargs, "column": col}) for col in columns]
        for v_name, v_kwargs in variants:
            if v_name in seen:
                raise CosellError(f"{where}: expectation name {v_name!r} is used twice")
            seen.add(v_name)
            spec = ExpectationSpec(
                suite=name,
                name=v_name,
                severity=severity,
                dataset=dataset,
                expect=expect,
                kwargs=v_kwargs,
                where=item.get("where"),
                description=" ".join(str(item.get("description", "")).split()),
            )
            try:
                _gx_expectation(spec)  # arguments are checked when the suite is read, not mid-run
            except CosellError:
                raise
            except Exception as error:  # pydantic / GX argument errors
                raise CosellError(f"{where}: expectation {v_name!r}: {' '.join(str(error).split())[:200]}") from None
            expectations.append(spec)
    return SuiteSpec(name, stage, path, " ".join(str(data.get("description", "")).split()), datasets, tuple(expectations))


def load_suites(stage: str, params: dict[str, Any] | None = None, directory: Path | None = None) -> list[SuiteSpec]:
    directory = Path(directory or EXPECTATIONS_DIR)
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml", ".json"))
    suites = [load_suite(p, params) for p in paths]
    suites = [s for s in suites if s.stage == stage]
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise CosellError(f"two suite files of stage {stage} share a suite name: {names}")
    if not suites:
        raise CosellError(f"no expectation suites for stage {stage} in {directory}")
    return suites


def _condition(where: dict[str, Any]):
    """A suite `where:` ({column, eq|ne|in|not_in|is_null|not_null}) as a GX row condition."""
    from great_expectations.expectations.row_conditions import Column

    col = Column(where["column"])
    if "eq" in where:
        return col == where["eq"]
    if "ne" in where:
        return col != where["ne"]
    if "in" in where:
        return col.is_in(list(where["in"]))
    if "not_in" in where:
        return col.is_not_in(list(where["not_in"]))
    if where.get("is_null"):
        return col.is_null()
    if where.get("not_null"):
        return col.is_not_null()
    raise CosellError(f"unsupported where clause {where!r}")


# --------------------------------------------------------------------------- results


@dataclass
class Finding:
    """One failed expectation."""

    expectation: str  # suite.name
    severity: str
    dataset: str
    description: str
    unexpected_count: int | None = None
    observed: Any = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def brief(self) -> str:
        bits = []
        if self.error:
            bits.append(self.error)
        if self.unexpected_count is not None:
            bits.append(f"{self.unexpected_count} unexpected")
        elif self.observed is not None and not self.sample:
            bits.append(f"observed {_short(self.observed)}")
        if self.sample:
            rows = "; ".join(
                "{" + ", ".join(f"{k}={_short(v)}" for k, v in row.items()) + "}" for row in self.sample[:MESSAGE_ROWS]
            )
            more = f" +{len(self.sample) - MESSAGE_ROWS} more" if len(self.sample) > MESSAGE_ROWS else ""
            bits.append(f"e.g. {rows}{more}")
        detail = ", ".join(bits)
        return f"{self.expectation} [{self.severity}]" + (f" ({detail})" if detail else "")


@dataclass
class GateResult:
    stage: str
    ok: bool
    failures: list[Finding]
    warnings: list[Finding]
    docs_path: Path | None
    json_path: Path | None = None
    expectations: int = 0
    elapsed_seconds: float = 0.0
    batch_load_ids: list[int] = field(default_factory=list)  # the loads the raw gate judged (gate_batch)
    results: list[dict[str, Any]] = field(default_factory=list)  # every expectation run: name, severity, success

    def describe(self) -> str:
        status = "passed" if self.ok else "FAILED"
        text = (
            f"{self.stage} gate {status}: {self.expectations} expectations, "
            f"{len(self.failures)} failed, {len(self.warnings)} warnings"
        )
        if self.failures:
            text += ": " + "; ".join(f.brief() for f in self.failures)
        if self.warnings:
            text += " | warnings: " + ", ".join(f.expectation for f in self.warnings)
        text += f" ({self.elapsed_seconds:.1f}s); report {self.docs_path}"
        return " ".join(text.split())

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "ok": self.ok,
            "expectations": self.expectations,
            "batch_load_ids": self.batch_load_ids,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "docs_path": str(self.docs_path) if self.docs_path else None,
            "failures": [asdict(f) for f in self.failures],
            "warnings": [asdict(f) for f in self.warnings],
            "results": self.results,
        }


class GateFailed(CosellError):
    """A quality gate failed; `result` holds the full GateResult."""

    def __reduce__(self):  # pickled by its result (cosell.gates.process sends it to the run)
        return GateFailed, (self.result,)

    def __init__(self, result: GateResult):
        self.result = result
        names = "; ".join(f.brief() for f in result.failures)
        super().__init__(
            " ".join(
                f"{result.stage} gate failed, {len(result.failures)} expectation(s): {names}; "
                f"report {result.docs_path}".split()
            )
        )


def _short(value: Any, width: int = 40) -> str:
    text = "null" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a GX / pandas value."""
    if value is None:
        return None
    try:
        import pandas as pd

        if value is pd.NaT or value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    try:
        import pandas as pd

        if value is pd.NaT or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _records(frame, limit: int) -> list[dict[str, Any]]:
    return [_plain(dict(row)) for row in frame.head(limit).to_dict(orient="records")]


# --------------------------------------------------------------------------- the gate


def _params(settings: Settings) -> dict[str, Any]:
    return {"max_reject_rate": settings.max_reject_rate}


def _open(settings: Settings, stage: str) -> tuple[duckdb.DuckDBPyConnection, list[int]]:
    """A read-only connection with the gate's TEMP views, and the batch's load ids."""
    con = connect(settings, read_only=True)  # a missing or locked warehouse is a one-line CosellError
    try:
        con.execute("SET enable_progress_bar = false")
        if not has_schema(con, "raw"):
            raise CosellError(f"warehouse {settings.warehouse} has no raw layer: run `cosell land` first")
        if stage == "marts" and not has_schema(con, "marts"):
            raise CosellError(f"warehouse {settings.warehouse} has no marts: run `cosell build` first")
        try:
            create_gate_views(con, stage)
        except duckdb.Error as error:  # e.g. a marts table the views read is missing
            raise CosellError(f"cannot prepare the {stage} gate: {' '.join(str(error).split())[:200]}") from None
        load_ids = sorted(int(r[0]) for r in con.execute("SELECT load_id FROM gate_batch").fetchall())
    except BaseException:
        con.close()
        raise
    return con, load_ids


def _chunks(con: duckdb.DuckDBPyConnection, sql: str):
    """The dataset's rows as pandas frames of at most CHUNK_ROWS rows (at least one, maybe empty)."""
    cursor = con.execute(sql)
    vectors = max(1, CHUNK_ROWS // 2048)
    frame = cursor.fetch_df_chunk(vectors)
    yield frame
    while len(frame):
        frame = cursor.fetch_df_chunk(vectors)
        if len(frame):
            yield frame


def _gx_context(site_dir: Path, site_name: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.add_data_docs_site(
        site_name=site_name,
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def _gx_expectation(spec: ExpectationSpec):
    cls = _expectation_class(spec.expect)
    kwargs = dict(spec.kwargs)
    if spec.where:
        kwargs["row_condition"] = _condition(spec.where)
    return cls(
        **kwargs,
        severity="critical" if spec.severity == "fail" else "warning",
        meta={"name": spec.qualified_name, "severity": spec.severity, "dataset": spec.dataset},
        notes=f"{spec.qualified_name} [{spec.severity}]" + (f": {spec.description}" if spec.description else ""),
    )


def _finding_from_result(spec: ExpectationSpec, result, frame) -> Finding:
    res = dict(result.result or {})
    finding = Finding(spec.qualified_name, spec.severity, spec.dataset, spec.description)
    exception = result.exception_info or {}
    if isinstance(exception, dict) and exception.get("raised_exception"):
        finding.error = _short(exception.get("exception_message"), 200)
    elif isinstance(exception, dict):
        for info in exception.values():
            if isinstance(info, dict) and info.get("raised_exception"):
                finding.error = _short(info.get("exception_message"), 200)
    if "unexpected_count" in res:
        finding.unexpected_count = int(res["unexpected_count"] or 0)
    if "observed_value" in res:
        finding.observed = _plain(res["observed_value"])
    rows = res.get("unexpected_index_list") or res.get("partial_unexpected_index_list")
    if rows and isinstance(rows[0], dict):
        finding.sample = [_plain(r) for r in rows[:SAMPLE_ROWS]]
    elif res.get("partial_unexpected_list"):
        finding.sample = [
            _plain(v) if isinstance(v, dict) else {"value": _plain(v)} for v in res["partial_unexpected_list"][:SAMPLE_ROWS]
        ]
    elif spec.expect.startswith("expect_table_") and frame is not None and len(frame):
        # A pushed-down rule: the frame itself holds the offending rows (capped by the SQL's LIMIT).
        finding.sample = _records(frame, SAMPLE_ROWS)
        if spec.expect == "expect_table_row_count_to_equal" and spec.kwargs.get("value") == 0:
            finding.unexpected_count = len(frame)
    return finding


def _merge(into: Finding, other: Finding) -> None:
    """Fold the finding of a later chunk of the same dataset into the first one."""
    if other.unexpected_count is not None:
        into.unexpected_count = (into.unexpected_count or 0) + other.unexpected_count
    into.sample = (into.sample + other.sample)[:SAMPLE_ROWS]
    into.error = into.error or other.error


def _forget_batches(source) -> None:
    """Drop the frames GX's execution engine keeps of every batch it validated.

    The pandas engine caches each batch's dataframe for the datasource's lifetime, so a
    dataset streamed chunk by chunk (a first night's whole history) would end up held whole.
    """
    manager = source.get_execution_engine().batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()


def _run_gx(
    stage: str, suites: list[SuiteSpec], con: duckdb.DuckDBPyConnection, site_dir: Path
) -> tuple[list[Finding], int]:
    import great_expectations as gx

    site_name = f"cosell_{stage}"
    context = _gx_context(site_dir, site_name)
    source = context.data_sources.add_pandas(f"cosell_{stage}")
    # one asset and batch definition for every frame (each run passes its own dataframe): GX saves its whole
    # project config as YAML on every asset or batch definition added, 15 ms each
    batch_definition = source.add_dataframe_asset(f"{stage}_frames").add_batch_definition_whole_dataframe("batch")
    findings: dict[str, Finding] = {}
    evaluated = 0
    for suite in suites:
        by_dataset: dict[str, list[ExpectationSpec]] = {}
        for spec in suite.expectations:
            by_dataset.setdefault(spec.dataset, []).append(spec)
        for ds_name, specs in by_dataset.items():
            evaluated += len(specs)
            dataset = suite.datasets[ds_name]
            by_name = {spec.qualified_name: spec for spec in specs}
            try:
                for number, frame in enumerate(_chunks(con, dataset.sql), start=1):
                    label = f"{suite.name}.{ds_name}" + (f".part{number}" if number > 1 else "")
                    gx_suite = context.suites.add(
                        gx.ExpectationSuite(
                            name=label,
                            expectations=[_gx_expectation(spec) for spec in specs],
                            meta={"description": suite.description, "dataset": dataset.description},
                        )
                    )
                    validation = context.validation_definitions.add(
                        gx.ValidationDefinition(name=label, data=batch_definition, suite=gx_suite)
                    )
                    index = [c for c in dataset.index if c in frame.columns]
                    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
                    if index:
                        result_format["unexpected_index_column_names"] = index
                    checkpoint = context.checkpoints.add(
                        gx.Checkpoint(
                            name=label, validation_definitions=[validation], actions=[], result_format=result_format
                        )
                    )
                    run = checkpoint.run(batch_parameters={"dataframe": frame})
                    _forget_batches(source)
                    for validation_result in run.run_results.values():
                        for result in validation_result.results:
                            if result.success:
                                continue
                            spec = by_name[result.expectation_config.meta["name"]]
                            finding = _finding_from_result(spec, result, frame)
                            if spec.qualified_name in findings:
                                _merge(findings[spec.qualified_name], finding)
                            else:
                                findings[spec.qualified_name] = finding
            except duckdb.Error as error:  # the dataset cannot be read: each of its rules fails
                message = " ".join(f"query failed: {error}".split())[:300]
                for spec in specs:
                    findings.setdefault(
                        spec.qualified_name, Finding(spec.qualified_name, spec.severity, spec.dataset, spec.description)
                    ).error = message
    context.build_data_docs(site_names=[site_name])
    localise_site(site_dir)  # no CDN: the pages work offline
    return list(findings.values()), evaluated


def docs_dir(settings: Settings, stage: str) -> Path:
    return settings.reports_dir / "data_docs" / stage


def check(stage: str, settings: Settings, *, suites: list[str] | None = None) -> GateResult:
    """Run the `raw` or `marts` gate; raises GateFailed when a fail-severity expectation fails.

    `suites` restricts the run to the named suites (tests and debugging); the nightly run and
    `cosell check` always run every suite of the stage.
    """
    if stage not in STAGES:
        raise CosellError(f"unknown gate {stage!r}: use one of {', '.join(STAGES)}")
    started = time.perf_counter()
    import_great_expectations()
    names = suites
    suites = load_suites(stage, _params(settings))
    if names is not None:
        unknown = sorted(set(names) - {s.name for s in suites})
        if unknown:
            raise CosellError(f"no {stage} suite named {', '.join(unknown)}")
        suites = [s for s in suites if s.name in names]
    con, load_ids = _open(settings, stage)
    try:
        site_dir = docs_dir(settings, stage)
        if site_dir.exists():
            shutil.rmtree(site_dir)  # the folder describes this run only
        site_dir.mkdir(parents=True, exist_ok=True)
        findings, evaluated = _run_gx(stage, suites, con, site_dir)
    finally:
        con.close()

    order = {s.qualified_name: i for i, s in enumerate(e for suite in suites for e in suite.expectations)}
    findings.sort(key=lambda f: order.get(f.expectation, 0))
    failures = [f for f in findings if f.severity == "fail"]
    warnings = [f for f in findings if f.severity == "warn"]
    failed_names = {f.expectation for f in findings}
    index_html = site_dir / "index.html"
    result = GateResult(
        stage=stage,
        ok=not failures,
        failures=failures,
        warnings=warnings,
        docs_path=index_html if index_html.exists() else site_dir,
        json_path=site_dir / "gate_result.json",
        expectations=evaluated,
        elapsed_seconds=time.perf_counter() - started,
        batch_load_ids=load_ids,
        results=[
            {
                "expectation": spec.qualified_name,
                "severity": spec.severity,
                "dataset": spec.dataset,
                "success": spec.qualified_name not in failed_names,
            }
            for suite in suites
            for spec in suite.expectations
        ],
    )
    result.json_path.write_text(json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    for finding in warnings:
        log.warning("%s gate warning: %s", stage, finding.brief())
    if failures:
        raise GateFailed(result)
    return result
