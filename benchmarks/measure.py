"""Runs one Python snippet in a fresh interpreter and reports its wall time and peak RSS (its own or its largest child's)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_WRAPPER = """
import json, resource, sys, time
start = time.perf_counter()
result = None
{body}
print(json.dumps({{"seconds": time.perf_counter() - start,
                   "peak_rss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024,
                   "result": result}}), file=sys.stderr)
"""


def measure(body: str, env: dict[str, str] | None = None) -> dict:
    """Run `body` (which may set `result`) in a child interpreter; returns seconds, peak_rss_mb, result."""
    code = _WRAPPER.format(body=textwrap.indent(textwrap.dedent(body), ""))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])
