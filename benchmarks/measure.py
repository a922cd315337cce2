"""Runs one Python snippet in a fresh interpreter and reports its wall time and peak RSS (its own or its largest child's)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

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
    # A script file, not `python -c`: pyspark (imported by Great Expectations) takes a __main__
    # without __file__ for its doctests and exits 0 on the spot when grpc_status is missing.
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "step.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    for line in reversed(done.stderr.strip().splitlines()):  # lines after it: warnings printed at exit
        if line.startswith('{"seconds"'):
            return json.loads(line)
    raise SystemExit(f"benchmark step printed no result:\n{done.stderr[-3000:]}")
