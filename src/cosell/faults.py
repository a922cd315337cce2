"""Named crash points for the fault-injection tests: COSELL_CRASH_AT=<name> kills the process there (SIGKILL).

Unset (always, outside those tests) a crash point does nothing. The names are the step boundaries
and the inside points of the long steps that the tests kill at, then rerun and compare with an
undisturbed run; they are listed where they stand, so `grep crash_point` shows every one.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("COSELL_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
