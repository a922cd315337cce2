"""The README's "Scheduling it" steps, run as written: `airflow standalone` answers on 127.0.0.1 with both DAGs.

The commands are read from README.md (the indented block that ends in `airflow standalone`), so the
test and the README cannot drift apart. They run in bash from the project folder with two
substitutions only: `$PWD/work` (COSELL_HOME and AIRFLOW_HOME) becomes a temporary folder and
`/path/to/inbox` a temporary inbox. The environment the test starts from has no `.venv/bin` on
PATH, no telemetry switches and no AIRFLOW_* settings, as a new user's shell; the test adds only
the API server's port (a free one) and host (127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from processes import (
    airflow_side_ports,
    cmdline_of,
    environ_of,
    free_port,
    group_members,
    http_get,
    http_post_json,
    kill_marked,
    marked,
    new_marker,
    start,
    stop,
    wait_for_http,
    wait_until,
)

from cosell.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
START_TIMEOUT = 240  # migrate, pool, manifest, then four components on a busy 2-core machine
TELEMETRY_OFF = {"AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False", "SCARF_ANALYTICS": "false", "DO_NOT_TRACK": "1"}


def readme_standalone_block(text: str) -> list[str]:
    """The README's indented code block that starts Airflow standalone, one command a line."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") and line.strip():
            current.append(line[4:])
        else:
            if current:
                blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    found = [block for block in blocks if any(re.search(r"\bairflow standalone\b", line) for line in block)]
    assert len(found) == 1, f"README.md should have one code block running `airflow standalone`, has {len(found)}"
    return found[0]


def test_the_readme_block_is_what_this_test_runs():
    block = readme_standalone_block(README.read_text(encoding="utf-8"))
    assert block[0].startswith("export PATH=$PWD/.venv/bin:$PATH"), block[0]  # components start as `airflow` from PATH
    assert block[-1].startswith(".venv/bin/airflow standalone"), block[-1]
    script = "\n".join(block)
    assert "$PWD/work" in script and "/path/to/inbox" in script  # what the slow test substitutes
    for name, value in TELEMETRY_OFF.items():
        assert f"{name}={value}" in script, f"README's Airflow steps leave {name} unset"


def _new_user_environment(port: int) -> dict[str, str]:
    venv_bin = str(PROJECT_ROOT / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "COSELL_")) and k not in
           ("DO_NOT_TRACK", "SCARF_ANALYTICS", "DBT_SEND_ANONYMOUS_USAGE_STATS", "GX_ANALYTICS_ENABLED",
            "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if p and os.path.realpath(p) != os.path.realpath(venv_bin))
    env["AIRFLOW__API__PORT"] = str(port)
    env["AIRFLOW__API__HOST"] = "127.0.0.1"
    env.update(airflow_side_ports())  # another test's Airflow may run beside this one
    return env


@pytest.mark.slow
def test_readme_airflow_standalone_answers_on_localhost_with_both_dags(tmp_path):
    work, inbox = tmp_path / "work", tmp_path / "inbox"
    inbox.mkdir()
    block = readme_standalone_block(README.read_text(encoding="utf-8"))
    script = "\n".join(["set -e", *block]).replace("$PWD/work", str(work)).replace("/path/to/inbox", str(inbox))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marker = new_marker()
    started = time.monotonic()
    standalone = start("readme", ["bash", "-c", script], env=_new_user_environment(port), cwd=PROJECT_ROOT,
                       logs=tmp_path / "logs", marker=marker)
    try:
        health = json.loads(wait_for_http(f"{base}/api/v2/monitor/health", START_TIMEOUT, standalone.alive,
                                          standalone.tail))

        def components_healthy():
            status, body = http_get(f"{base}/api/v2/monitor/health")
            data = json.loads(body) if status == 200 else {}
            parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
            return data if all(data.get(p, {}).get("status") == "healthy" for p in parts) else None

        health = wait_until("scheduler, dag processor and triggerer healthy", components_healthy, START_TIMEOUT,
                            standalone.alive, lambda: f"{health}\n{standalone.tail()}")
        status, page = http_get(f"{base}/")
        assert status == 200 and b"<html" in page.lower(), page[:300]

        password = json.loads((work / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        status, body = http_post_json(f"{base}/auth/token", {"username": "admin", "password": password})
        assert status == 201, body
        auth = {"Authorization": f"Bearer {json.loads(body)['access_token']}"}

        def both_dags():
            status, body = http_get(f"{base}/api/v2/dags", headers=auth)
            dags = {d["dag_id"]: d for d in json.loads(body)["dags"]} if status == 200 else {}
            return dags if {"cosell_nightly", "cosell_payouts"} <= set(dags) else None

        dags = wait_until("both DAGs parsed", both_dags, 120, standalone.alive, standalone.tail)
        assert all(d["is_paused"] for d in dags.values())  # new DAGs start paused, as the README says
        status, body = http_get(f"{base}/api/v2/importErrors", headers=auth)
        assert status == 200 and json.loads(body)["total_entries"] == 0, body
        ready = time.monotonic() - started

        # Telemetry off in the components the README's exports start (Airflow reports usage unless told not to).
        scheduler = [pid for pid in group_members(standalone.process.pid) if " scheduler" in cmdline_of(pid)]
        assert scheduler, [cmdline_of(pid) for pid in group_members(standalone.process.pid)]
        environment = environ_of(scheduler[0])
        for name, value in TELEMETRY_OFF.items():
            assert environment.get(name) == value, name
    finally:
        ended = stop(standalone)
        left = kill_marked(marker)
    assert left == [], f"left running after the stop: {left}"
    assert group_members(standalone.process.pid) == [] and marked(marker) == []
    print(f"README steps to the UI answering with both DAGs: {ready:.1f}s; stopped by {ended}")
