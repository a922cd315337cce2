"""`cosell run`'s quality gates in their own interpreter, started before landing.

Importing Great Expectations takes 2-3 s of one core (benchmarks/README.md, run U), and the day's
landing leaves the machine's other core free. `cosell run` starts this process first, so the import
happens beside landing; the run then asks it for each gate (`GateProcess.check`), which runs
cosell.gates.runner.check here, exactly as the run's own process would, and sends back the result or
the failure. Between two gates the process holds nothing open. It leaves when the run closes its end
of the socket or dies (kill -9 included): a gate process never outlives its run. Its stdout and
stderr are the run's.
"""

from __future__ import annotations

import pickle
import socket
import subprocess
import sys
import traceback

from cosell.config import Settings
from cosell.errors import CosellError
from cosell.faults import crash_point


class GateProcess:
    """The gates' interpreter, started now; `check(stage, settings)` as cosell.gates.runner.check; `close()` ends it."""

    def __init__(self) -> None:
        self._channel, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "cosell.gates.process", str(theirs.fileno())],
                                             pass_fds=(theirs.fileno(),))
        except BaseException:
            self._channel.close()
            raise
        finally:
            theirs.close()  # the process holds the only other end: it sees ours close when we close it or die
        self._reader = self._channel.makefile("rb")
        self._writer = self._channel.makefile("wb")

    def check(self, stage: str, settings: Settings):
        """The gate's GateResult; raises GateFailed, or CosellError, as cosell.gates.runner.check does."""
        from cosell.gates.runner import GateFailed

        try:
            pickle.dump((stage, settings), self._writer)
            self._writer.flush()
            kind, value = pickle.load(self._reader)
        except (OSError, EOFError, pickle.UnpicklingError):
            raise CosellError(f"the {stage} gate's process ended before it answered ({self._ending()})") from None
        if kind == "failed":
            raise GateFailed(value)
        if kind == "error":
            raise CosellError(value)
        if kind == "crash":
            raise RuntimeError(f"the {stage} gate failed in its process:\n{value}")
        return value

    def _ending(self) -> str:
        try:
            code = self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return "it no longer answers"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def close(self) -> None:
        """End the process (it holds nothing open between gates) and wait for it; again, a no-op."""
        if self._channel.fileno() == -1:
            return
        for stream in (self._writer, self._reader, self._channel):
            stream.close()
        self._process.terminate()
        self._process.wait()


# Packages Great Expectations imports when they are installed, for what the gates never use (Spark, SQL
# databases, S3): kept out of this process, `import` of them raising ImportError, which GX takes as "not
# installed". 0.5 s of the process's 2.9 s start (benchmarks/README.md, run U3); `cosell check` and the
# DAG's gate tasks import them as before.
NOT_FOR_THE_GATES = ("pyspark", "sqlalchemy", "boto3", "grpc", "psycopg2")


def serve(descriptor: int) -> None:
    """The process's side: import the gates, then run each gate asked for until the run's end closes."""
    for name in NOT_FOR_THE_GATES:
        sys.modules.setdefault(name, None)
    from cosell.gates import runner

    with socket.socket(fileno=descriptor) as channel, channel.makefile("rb") as reader, \
            channel.makefile("wb") as writer:
        try:
            runner.import_great_expectations()
        except CosellError:
            pass  # every check imports it again and answers with this error
        while True:
            try:
                stage, settings = pickle.load(reader)
            except (EOFError, OSError):
                return
            crash_point("gates:check")
            try:
                answer = ("result", runner.check(stage, settings))
            except runner.GateFailed as failed:
                answer = ("failed", failed.result)
            except CosellError as error:
                answer = ("error", str(error))
            except Exception:  # a bug: the run shows its traceback
                answer = ("crash", traceback.format_exc())
            try:
                message = pickle.dumps(answer)
            except Exception:  # a value the result holds cannot be sent: a bug, shown as one
                message = pickle.dumps(("crash", traceback.format_exc()))
            writer.write(message)
            writer.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
