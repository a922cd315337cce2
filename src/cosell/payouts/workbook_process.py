"""The finance workbook rendered by a second interpreter while this one writes the period's other files.

The workbook is the draft's largest piece of pure-Python work (about 2 s of a 1M month's 5.5 s, ten times
that at 10M) and needs only the period's CSV rows and manifest, so a child process renders it on the other
core while the parent records the ledger rows and writes the CSVs and statements (payouts/README.md, "The
workbook in a second process"). The child reads a pickle of (records, meta) on stdin and writes the .xlsx
bytes on stdout, the same files.render_workbook bytes; it writes nothing anywhere else, so a run killed
beside it leaves nothing.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from typing import Any, Mapping

from cosell.errors import CosellError
from cosell.faults import crash_point


class WorkbookProcess:
    """Starts the child on construction; bytes() waits for the workbook; leaving the `with` stops a child not
    waited for."""

    def __init__(self, records: Mapping[str, list[dict[str, str]]], meta: Mapping[str, Any]):
        self._period = meta["period"]
        payload = pickle.dumps((dict(records), dict(meta)), protocol=pickle.HIGHEST_PROTOCOL)
        # stderr to a file, not a pipe: a child stuck writing a long traceback could not block the parent reading stdout
        self._errors = tempfile.TemporaryFile()
        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._errors)
        try:
            with self._process.stdin:
                self._process.stdin.write(payload)
        except BrokenPipeError:
            pass  # the child ended before reading its input: bytes() reports how it ended

    def __enter__(self) -> WorkbookProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.returncode is None:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._errors.close()

    def bytes(self) -> bytes:
        content = self._process.stdout.read()
        code = self._process.wait()
        if code != 0:
            self._errors.seek(0)
            said = self._errors.read().decode("utf-8", "replace").strip().splitlines()
            reason = said[-1] if said else (f"its process was killed (signal {-code})" if code < 0
                                            else f"its process exited with status {code}")
            raise CosellError(f"the payout workbook of {self._period} could not be rendered: {reason}")
        return content


def main() -> int:
    payload = sys.stdin.buffer.read()  # first, so the parent's write does not wait on this process's imports
    from cosell.payouts.files import render_workbook

    records, meta = pickle.loads(payload)
    try:
        content = render_workbook(records, meta)
    except ValueError as error:  # a value no spreadsheet cell can hold (xlsx.py): one line for the parent
        print(f"{error}", file=sys.stderr)
        return 1
    crash_point("payouts:workbook")
    sys.stdout.buffer.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
