"""The `cosell` command line (SPEC section 7): parses arguments and calls the package functions."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from cosell.config import Settings
from cosell.errors import CosellError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _period(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a period YYYY-MM")
    return text


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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cosell", description="Co-sell warehouse and payout pipeline")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="write deterministic synthetic extracts")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--start", type=_date, default=dt.date(2026, 1, 1))
    gen.add_argument("--days", type=_positive, default=180)
    gen.add_argument("--partners", type=_positive, default=200)
    gen.add_argument("--deals", type=_positive, default=5000)

    land = sub.add_parser("land", help="land new extract files from an inbox")
    land.add_argument("--inbox", type=Path, required=True)

    build = sub.add_parser("build", help="dbt build: models and their tests")
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

    check = sub.add_parser("check", help="run a quality gate")
    check.add_argument("stage", choices=("raw", "marts"))

    run = sub.add_parser("run", help="the nightly run: land, gate, build, gate, publish")
    run.add_argument("--inbox", type=Path, required=True)

    pay = sub.add_parser("payouts", help="payout periods")
    pay_sub = pay.add_subparsers(dest="payouts_command", required=True, parser_class=_Parser)
    for name in ("run", "approve"):
        p = pay_sub.add_parser(name)
        p.add_argument("--period", type=_period, required=True)
        p.add_argument("--out", type=Path, required=True)
        if name == "approve":
            p.add_argument("--by", default=None, help="who approves (default: the login name)")

    pull = sub.add_parser("pull", help="pull co-sell records from a hyperscaler into the inbox as extract files")
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

    sub.add_parser("demo", help="sample extracts, then the nightly and payout DAGs in Airflow on the embedded default")
    return parser


def dispatch(args: argparse.Namespace, settings: Settings) -> str:
    """Run one command; returns the summary line printed on success."""
    if args.command == "generate":
        from cosell.generate import generate

        return generate(
            args.out, seed=args.seed, start=args.start, days=args.days, partners=args.partners, deals=args.deals
        ).describe()
    if args.command == "land":
        from cosell.landing import land

        return land(args.inbox, settings).describe()
    if args.command == "build":
        from cosell.build import build

        return build(
            settings, full_refresh=args.full_refresh, unit_tests=args.unit_tests, engine=args.engine
        ).describe()
    if args.command == "check":
        from cosell.gates import check

        return check(args.stage, settings).describe()
    if args.command == "run":
        from cosell.nightly import run_nightly

        return run_nightly(args.inbox, settings).describe()
    if args.command == "payouts":
        from cosell.payouts import lifecycle

        if args.payouts_command == "run":
            return lifecycle.run_period(args.period, args.out, settings).describe()
        return lifecycle.approve_period(args.period, args.out, settings, approved_by=args.by).describe()
    if args.command == "pull":
        business_date = args.business_date or dt.datetime.now(dt.timezone.utc).date()
        if args.provider == "aws":
            from cosell.connectors.aws import pull_aws

            return pull_aws(args.out, business_date, catalog=args.catalog, since=args.since).describe()
        from cosell.connectors.microsoft import pull_microsoft

        return pull_microsoft(args.out, business_date, token_env=args.token_env, file=args.file).describe()
    if args.command == "demo":
        from cosell.airflow_demo import airflow_demo

        return airflow_demo(settings).describe()
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
