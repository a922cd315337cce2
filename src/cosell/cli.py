"""The `cosell` command line (SPEC section 7): parses arguments and calls the package functions."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from importlib import metadata
from pathlib import Path

from cosell.config import ENVIRONMENT, Settings
from cosell.errors import CosellError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _period(text: str) -> str:
    from cosell.payouts.rules import parse_period

    try:
        return parse_period(text).label
    except CosellError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a period YYYY-MM") from None


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a timestamp like 2026-03-01T00:00:00Z") from None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default (when it has one) and keeps the epilog's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other failure."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _version() -> str:
    try:
        return metadata.version("cosell-warehouse")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _environment() -> str:
    width = max(map(len, ENVIRONMENT))
    return "environment variables:\n" + "\n".join(
        f"  {name.ljust(width)}  {text}" for name, text in ENVIRONMENT.items()
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cosell",
        description="Co-sell warehouse and payout pipeline: land partner extracts into DuckDB, gate them, build "
        "the marts with dbt, publish a copy for BI, and compute partner payouts for finance.",
        epilog=_environment() + "\n\nEvery command exits 0 on success, else non-zero with a one-line reason.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="command")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                              epilog=_environment())

    gen = command("generate", "write deterministic synthetic extracts in the inbox layout")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR", help="inbox folder to write (created)")
    gen.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same files")
    gen.add_argument("--start", type=_date, default=dt.date(2026, 1, 1), metavar="YYYY-MM-DD",
                     help="first business date")
    gen.add_argument("--days", type=_positive, default=180, help="business dates to generate")
    gen.add_argument("--partners", type=_positive, default=200, help="number of partners")
    gen.add_argument("--deals", type=_positive, default=5000, help="number of deals")

    land = command("land", "land new extract files from an inbox into schema raw (the inbox is never changed)")
    land.add_argument("--inbox", type=Path, required=True, metavar="DIR",
                      help="folder laid out as DIR/<feed>/<YYYY-MM-DD>/<file>")
    land.add_argument(
        "--until", type=_date, default=None, metavar="YYYY-MM-DD",
        help="land only files of business dates up to this one (a backfill or rerun of that date); default: no bound",
    )

    build = command("build", "run dbt build: the models and their tests")
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models from the whole raw layer (after changing eligibility vars or model SQL)",
    )
    build.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run the dbt unit tests (CI does; the nightly build leaves them out)",
    )
    build.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the models run: the DuckDB warehouse (default), or a local SparkSession over a Parquet "
        "export of the raw layer, writing the marts as Parquet under COSELL_HOME/spark/parquet",
    )

    check = command("check", "run a quality gate (Great Expectations) and write its Data Docs")
    check.add_argument("stage", choices=("raw", "marts"), help="raw: the landed extracts; marts: the built marts")

    run = command("run", "the nightly run: land, gate, build, gate, publish, report, dbt docs")
    run.add_argument("--inbox", type=Path, required=True, metavar="DIR",
                     help="folder laid out as DIR/<feed>/<YYYY-MM-DD>/<file>")
    run.add_argument(
        "--until", type=_date, default=None, metavar="YYYY-MM-DD",
        help="the run for this business date: land only files of dates up to it; default: no bound",
    )

    release = command(
        "release",
        "release a load that failed the raw gate: record who, when and why; the next `cosell run` builds and publishes it",
    )
    release.add_argument("--load", type=_positive, required=True, metavar="N",
                         help="the load_id (the gate's message and raw.load_audit name it)")
    release.add_argument("--reason", required=True, help="why the batch is accepted as it is (recorded with the load)")
    release.add_argument("--by", default=None, metavar="NAME", help="who releases (default: the login name)")

    pay = command("payouts", "payout periods: DRAFT files for finance, approval")
    pay_sub = pay.add_subparsers(dest="payouts_command", required=True, parser_class=_Parser, metavar="command")
    texts = {
        "run": "compute a period from the marts and write its DRAFT files (an adjustment set once it is approved)",
        "approve": "approve a DRAFT period: its files become APPROVED and read-only, the approval is recorded",
    }
    for name, text in texts.items():
        p = pay_sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".", epilog=_environment())
        p.add_argument("--period", type=_period, required=True, metavar="YYYY-MM", help="the calendar month (UTC)")
        p.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="payout folder; the period's files go to DIR/YYYY-MM")
        if name == "approve":
            p.add_argument("--by", default=None, metavar="NAME", help="who approves (default: the login name)")

    pull = command("pull", "pull co-sell records from a hyperscaler into the inbox as extract files")
    pull_sub = pull.add_subparsers(dest="provider", required=True, parser_class=_Parser)
    aws = pull_sub.add_parser("aws", help="AWS Partner Central opportunities (standard AWS credential chain)")
    aws.add_argument("--out", type=Path, required=True, help="the inbox")
    aws.add_argument("--catalog", choices=("AWS", "Sandbox"), default="AWS")
    aws.add_argument("--since", type=_instant, default=None, help="only opportunities modified after this instant")
    aws.add_argument("--business-date", type=_date, default=None, help="the date folder (default: today, UTC)")
    ms = pull_sub.add_parser("microsoft", help="Microsoft Partner Center referrals (REST API or an exported file)")
    ms.add_argument("--out", type=Path, required=True, help="the inbox")
    source = ms.add_mutually_exclusive_group(required=True)
    source.add_argument("--token-env", metavar="VAR", help="environment variable holding the Partner Center token")
    source.add_argument("--file", type=Path, help="referrals exported as JSON")
    ms.add_argument("--business-date", type=_date, default=None, help="the date folder (default: today, UTC)")

    command("demo", "sample extracts, then the nightly and payout DAGs in Airflow on the embedded default")

    dash = command("dashboard", "the BI dashboard (Streamlit) over the published copy, on 127.0.0.1")
    dash.add_argument("--port", type=_positive, default=8501, help="port to serve on")
    dash.add_argument("--source", type=Path, default=None, metavar="FILE",
                      help="a published DuckDB file to read instead of $COSELL_PUBLISHED (e.g. the aggregated copy)")
    return parser


def dispatch(args: argparse.Namespace, settings: Settings) -> str:
    """Run one command; returns the summary line printed on success."""
    if args.command == "generate":
        from cosell.synthetic.generate import generate

        return generate(
            args.out, seed=args.seed, start=args.start, days=args.days, partners=args.partners, deals=args.deals
        ).describe()
    if args.command == "land":
        from cosell.landing.load import land

        return land(args.inbox, settings, until=args.until).describe()
    if args.command == "build":
        from cosell.build.dbt import build

        return build(
            settings, full_refresh=args.full_refresh, unit_tests=args.unit_tests, engine=args.engine
        ).describe()
    if args.command == "check":
        from cosell.gates.runner import check

        return check(args.stage, settings).describe()
    if args.command == "run":
        from cosell.orchestration.nightly import run_nightly

        return run_nightly(args.inbox, settings, until=args.until).describe()
    if args.command == "release":
        from cosell.orchestration.nightly import release_load

        return release_load(settings, args.load, args.reason, args.by).describe()
    if args.command == "payouts":
        from cosell.payouts import lifecycle

        if args.payouts_command == "run":
            summary = lifecycle.run_period(args.period, args.out, settings)
            for warning in summary.warnings:
                print(f"cosell: warning: {warning}", file=sys.stderr)
            return summary.describe()
        return lifecycle.approve_period(args.period, args.out, settings, approved_by=args.by).describe()
    if args.command == "pull":
        business_date = args.business_date or dt.datetime.now(dt.timezone.utc).date()
        if args.provider == "aws":
            from cosell.connectors.aws import pull_aws

            return pull_aws(args.out, business_date, catalog=args.catalog, since=args.since).describe()
        from cosell.connectors.microsoft import pull_microsoft

        return pull_microsoft(args.out, business_date, token_env=args.token_env, file=args.file).describe()
    if args.command == "demo":
        from cosell.orchestration.airflow_demo import airflow_demo

        return airflow_demo(settings).describe()
    if args.command == "dashboard":
        from cosell.publish.dashboard import serve

        serve(args.port, args.source)  # becomes the server process (exec): never returns
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(dispatch(args, Settings.from_env()))
    except CosellError as error:
        print(f"cosell: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # disk full, permissions, a vanished folder: the cause and the path, in one line
        where = f": {error.filename}" if error.filename else ""
        print(f"cosell: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except Exception as error:
        import duckdb

        if not isinstance(error, (duckdb.IOException, duckdb.OutOfMemoryException)):
            raise  # a bug: the traceback is for us
        print(f"cosell: error: {' '.join(str(error).split())[:300]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
