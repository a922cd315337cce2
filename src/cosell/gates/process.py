"""`cosell run`'s quality gates in their own interpreter, started before landing.

Importing Great Expectations takes 2-3 s of one core (benchmarks/README.md, run U), and the day's
landing leaves the machine's other core free. `cosell run` starts this process first, so the import
happens beside landing; the run then asks it for each gate (`GateProcess.check`), which runs
cosell.gates.runner.check here, exactly as the run's own process would, and sends back the result or
the failure: the exception itself where it can be sent (an OSError or DuckDB error then reaches the
command as one line, as in-process), its traceback otherwise. Between two gates the process holds
nothing open. It never outlives its run: on Linux the kernel kills it when the run dies (kill -9
included, in the middle of a gate too), and it leaves when the run closes its end of the socket.
Ctrl-C is the run's to handle. Its stdout and stderr are the run's.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
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
            # -P: the run's working folder is not put on the process's import path
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "cosell.gates.process", str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),))
        except BaseException:
            self._channel.close()
            raise
        finally:
            theirs.close()  # the process holds the only other end: it sees ours close when we close it or die
        self._reader = self._channel.makefile("rb")

    def check(self, stage: str, settings: Settings):
        """The gate's GateResult; raises what cosell.gates.runner.check raises (GateFailed, CosellError, ...)."""
        try:
            self._channel.sendall(pickle.dumps((stage, settings)))
            kind, value = pickle.load(self._reader)
        except (OSError, EOFError, pickle.UnpicklingError):
            raise CosellError(f"the {stage} gate's process ended before it answered ({self._ending()})") from None
        if kind == "raise":
            raise value
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
        self._reader.close()
        self._channel.close()
        self._process.terminate()
        self._process.wait()


# Packages Great Expectations imports when they are installed, for what the gates never use (Spark, SQL
# databases, S3): kept out of this process, `import` of them raising ImportError, which GX takes as "not
# installed". 0.5 s of the process's 2.9 s start (benchmarks/README.md, run U3); `cosell check` and the
# DAG's gate tasks import them as before.
NOT_FOR_THE_GATES = ("pyspark", "sqlalchemy", "boto3", "grpc", "psycopg2")


# prctl(2): the signal this process gets when the thread that started it ends (Linux)
PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Be killed when the run dies, whatever this process is doing; leave now if it already has."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the run too, which ends this process


def _answer(value: object = None, failure: BaseException | None = None) -> bytes:
    """The message for the run: `value`, or the exception itself when it survives pickling, else its text."""
    try:
        if failure is not None:
            pickle.loads(pickle.dumps(failure))  # an exception whose __init__ takes other arguments fails here
            value = ("raise", failure)
        return pickle.dumps(value)
    except Exception:  # cannot be sent as it is
        if isinstance(failure, CosellError):
            return pickle.dumps(("error", str(failure)))
        text = "".join(traceback.format_exception(failure)) if failure else traceback.format_exc()
        return pickle.dumps(("crash", text))


def serve(descriptor: int, parent: int) -> None:
    """The process's side: import the gates, then run each gate asked for until the run's end closes."""
    _die_with(parent)
    os.set_inheritable(descriptor, False)  # nothing this process starts holds the run's socket
    for name in NOT_FOR_THE_GATES:
        sys.modules.setdefault(name, None)
    from cosell.gates import runner

    with socket.socket(fileno=descriptor) as channel, channel.makefile("rb") as reader:
        try:
            runner.import_great_expectations()
        except CosellError:
            pass  # every check imports it again and answers with this error
        crash_point("gates:imported")
        while True:
            try:
                stage, settings = pickle.load(reader)
            except (EOFError, OSError):
                return
            crash_point("gates:check")
            try:
                message = _answer(("result", runner.check(stage, settings)))
            except Exception as error:  # raised in the run as it would be in-process (GateFailed included)
                error.add_note(f"(in the {stage} gate's process)\n{traceback.format_exc()}")
                message = _answer(None, error)
            channel.sendall(message)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
