"""Opens a page in headless Chromium with the network off and lists every request the page sent to the network.

Chromium logs its network stack to a NetLog file (--log-net-log). Every request that tries to leave the machine
starts a URL_REQUEST_START_JOB event there, even when it then fails (host names do not resolve: the network
is off). file:// loads never reach the network stack. Chromium's own background requests (update checks,
account and clock queries) carry the initiator "not an origin"; a page's requests carry the page's origin
("null" for a file:// page), so those are the requests counted.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_OWN = "not an origin"


@dataclass(frozen=True)
class Visit:
    dom: str
    external: list[str]  # URLs the page asked the network for


def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium (as root it installs Debian's chromium)")
    return CHROMIUM


def visit(page: Path, workdir: Path, budget_ms: int = 15000) -> Visit:
    """Load page with every host name unresolvable; the rendered DOM and the page's network requests."""
    workdir.mkdir(parents=True, exist_ok=True)
    netlog = workdir / "netlog.json"
    command = [
        str(chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # the network is off: no name resolves
        f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={netlog}", "--net-log-capture-mode=Default",
        f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    external = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "url" in params and params.get("initiator") != BROWSER_OWN:
            external.append(params["url"])
    return Visit(done.stdout, external)
