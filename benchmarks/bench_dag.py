"""Benchmark: one incremental day through the nightly DAG beside `cosell run`, and Airflow's floor per task.

Usage: .venv/bin/python benchmarks/bench_dag.py [--deals 100000] [--days 180] [--repeats 2] [--out benchmarks/out]

1. generate the history; `cosell run` lands and builds every date but the last (the first
   night, not timed against anything) and the home folder is kept as it is then;
2. the last business date is added to the inbox; then, --repeats times and alternating, each
   from a fresh copy of that home: `cosell run` (in its own interpreter), and the nightly DAG
   for that date (`dag.test()` in its own interpreter, as `cosell demo` and the tests run it;
   Airflow set up beforehand, not timed). The medians are compared (target: DAG <= 1.3x);
3. the floor: a DAG of 1 and of 41 no-op tasks in the warehouse pool, run the same way: the
   run of one task is what every dag.test() pays once (Airflow's start, its in-process API),
   the difference per extra task is the start of one task.
The DAG's own task times (from the Airflow metadata DB) show where its extra time goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import link_dates, run  # noqa: E402

FLOOR_DAG = textwrap.dedent(
    """
    import datetime as dt
    import os

    from airflow.sdk import chain, dag, task

    @dag(dag_id="floor", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), catchup=False,
         max_active_tasks=1)
    def floor():
        @task(pool="cosell_warehouse")
        def noop(number: int) -> int:
            return number

        chain(*[noop.override(task_id=f"t{n}")(n) for n in range(int(os.environ["FLOOR_TASKS"]))])

    floor()
    """
)

FLOOR_RUN = textwrap.dedent(
    """
    import sys, time
    from airflow.dag_processing.dagbag import DagBag
    started = time.perf_counter()
    dag = DagBag(sys.argv[1]).dags["floor"]
    run = dag.test()
    assert str(getattr(run.state, "value", run.state)) == "success", run.state
    print("FLOOR", time.perf_counter() - started)
    """
)


def task_seconds(env: dict[str, str], dag_id: str) -> dict[str, float]:
    """task_id -> seconds of the latest run of dag_id, from the SQLite metadata DB."""
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    con = sqlite3.connect(database)
    try:
        rows = con.execute(
            "SELECT task_id, coalesce(duration, 0) FROM task_instance WHERE run_id = "
            "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1) AND dag_id = ?",
            [dag_id, dag_id]).fetchall()
    finally:
        con.close()
    return dict(rows)


def floor(root: Path, env: dict[str, str], tasks: int) -> float:
    """Wall seconds of one dag.test() of a chain of `tasks` no-op tasks (its own interpreter)."""
    dags = root / "floor_dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "floor.py").write_text(FLOOR_DAG, encoding="utf-8")
    floor_env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "FLOOR_TASKS": str(tasks)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FLOOR_RUN, str(dags)], env=floor_env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"floor DAG failed:\n{done.stderr[-3000:]}")
    return wall


def fresh(base: Path, home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run(["cp", "-a", str(base), str(home)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    from cosell.config import Settings
    from cosell.orchestration.airflow_demo import (
        NIGHTLY_DAG,
        airflow_environment,
        prepare_airflow,
        run_dag,
    )

    root = (args.out / f"dag_{args.deals}").resolve()
    shutil.rmtree(root, ignore_errors=True)
    generated, inbox, base, home = root / "generated", root / "inbox", root / "home_base", root / "home"
    env = dict(os.environ, COSELL_HOME=str(base))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.deals} deals over {args.days} business dates")
    run("generate", f"from cosell.synthetic.generate import generate\nsummary = generate(Path({str(generated)!r}), "
        f"deals={args.deals}, partners={max(50, args.deals // 500)}, days={args.days})", env)
    last = max(dt.date.fromisoformat(p.name) for p in generated.glob("*/*") if p.is_dir())
    link_dates(generated, inbox, lambda d: d < last)
    nightly = f"from cosell.orchestration.nightly import run_nightly\nsummary = run_nightly(Path({str(inbox)!r}), settings)"
    run("first night (cosell run)", nightly, env)
    link_dates(generated, inbox, lambda d: d == last)

    env = dict(os.environ, COSELL_HOME=str(home))
    settings = Settings.from_env(env)
    airflow_env = airflow_environment(settings, inbox, airflow_home=root / "airflow")
    prepare_airflow(airflow_env)
    print(f"one more business date ({last}), {args.repeats} times each from the same home:")
    cli_runs, dag_runs = [], []
    for number in range(args.repeats):
        fresh(base, home)
        cli_runs.append(run("cosell run", nightly, env)["seconds"])
        fresh(base, home)
        result = run_dag(airflow_env, NIGHTLY_DAG, business_date=last.isoformat(),
                         logical_date=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=number))
        if result.state != "success":
            raise SystemExit(f"the DAG run failed: {result.tasks}")
        dag_runs.append(result.seconds)
        times = task_seconds(airflow_env, NIGHTLY_DAG)
        print(f"  {'nightly DAG (dag.test)':<28} {result.seconds:>8.1f} s  tasks: "
              + ", ".join(f"{t} {s:.1f}" for t, s in sorted(times.items(), key=lambda kv: -kv[1])))
        print(f"  {'':<28} sum of task durations {sum(times.values()):.1f} s of {len(times)} tasks")
    cli, dag = statistics.median(cli_runs), statistics.median(dag_runs)
    print("the floor (no-op tasks in the warehouse pool, dag.test):")
    one = floor(root, airflow_env, 1)
    many = floor(root, airflow_env, 41)
    per_task = (many - one) / 40
    tasks = len(task_seconds(airflow_env, NIGHTLY_DAG))
    print(f"  1 task {one:.1f} s, 41 tasks {many:.1f} s: {per_task:.2f} s per task, "
          f"{one - per_task:.1f} s once per dag.test()")
    print(f"DAG / cosell run = {dag / cli:.2f}x (target <= 1.3x; medians {dag:.1f} s / {cli:.1f} s); "
          f"floor for this DAG's {tasks} tasks: {one - per_task + tasks * per_task:.1f} s; "
          f"DAG less its floor / cosell run = {(dag - (one - per_task + tasks * per_task)) / cli:.2f}x; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
