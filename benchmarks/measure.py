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
    # Run as a script file, not `python -c`: pyspark (imported by Great Expectations) takes a
    # __main__ without __file__ for its doctests and exits the interpreter with status 0.
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="bench_step_", delete=False) as script:
        script.write(code)
    try:
        done = subprocess.run([sys.executable, script.name], env=env, capture_output=True, text=True)
    finally:
        Path(script.name).unlink()
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])
