"""The fast tier (`./dev test --fast`, marker expression "not slow") must reach every module of cosell.

After a whole fast-tier run (no file or -k selection) every module of the package must have been
imported by the test process; a module only the slow tests reach fails the run, naming it.
"""

from __future__ import annotations

import pkgutil
import sys

import pytest

import cosell


def all_modules() -> set[str]:
    return {m.name for m in pkgutil.walk_packages(cosell.__path__, "cosell.")}


def unreached(loaded) -> list[str]:
    return sorted(all_modules() - set(loaded))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    whole_fast_tier = (
        config.getoption("markexpr") == "not slow"
        and config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.getoption("keyword")
    )
    if not whole_fast_tier or exitstatus != 0:
        return
    missing = unreached(sys.modules)
    if missing:
        sys.stderr.write(f"fast tier: modules no fast test imports: {', '.join(missing)}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
