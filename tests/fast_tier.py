"""The fast tier (`./dev test --fast`, marker expression "not slow") must reach every module of cosell.

A module counts as reached when a selected test's file uses it (a module or an object of it among
the test file's names), when a reached module uses it the same way, when it is first imported while
the selected tests run, or (a package) when one of its modules is reached. After a whole
fast-tier run (no file or -k selection) a module no fast test reaches fails the run, naming it.
Under pytest-xdist each worker reports the modules its tests reached and the controller judges
the union.
"""

from __future__ import annotations

import inspect
import pkgutil
import sys
from types import ModuleType

import pytest

import cosell

_before_run: set[str] = set()


def all_modules() -> set[str]:
    return {m.name for m in pkgutil.walk_packages(cosell.__path__, "cosell.")}


def used_by(module: ModuleType) -> set[str]:
    """The cosell modules a test file's names come from."""
    names = set()
    for value in vars(module).values():
        owner = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(owner, str) and owner.startswith("cosell."):
            names.add(owner)
    return names


def closure(reached: set[str]) -> set[str]:
    """reached, the cosell modules those use (recursively), and the packages that hold them."""
    found, todo = set(), list(reached)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        module = sys.modules.get(name)
        if module is not None:
            todo.extend(used_by(module) - found)
        parent = name.rpartition(".")[0]
        if parent.startswith("cosell."):
            todo.append(parent)
    return found


def unreached(reached) -> list[str]:
    return sorted(all_modules() - closure(set(reached)))


def _whole_fast_tier(config: pytest.Config) -> bool:
    return (
        config.getoption("markexpr") == "not slow"
        and config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.getoption("keyword")
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    _before_run.update(sys.modules)


_reached_by_workers: set[str] = set()


def _reached(session: pytest.Session) -> set[str]:
    """The modules this process's selected tests reached, with what those use."""
    reached = set(sys.modules) - _before_run
    for test_file in {item.module for item in session.items if getattr(item, "module", None)}:
        reached |= used_by(test_file)
    return closure(reached)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist, on the controller: a worker's reached modules (the worker ran part of the tests)."""
    _reached_by_workers.update(getattr(node, "workeroutput", {}).get("cosell_reached", ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller judges the union of the workers'
        workeroutput["cosell_reached"] = sorted(m for m in _reached(session) if m.startswith("cosell"))
        return
    if not _whole_fast_tier(session.config) or exitstatus != 0:
        return
    missing = unreached(_reached_by_workers or _reached(session))
    if missing:
        sys.stderr.write(f"fast tier: modules no fast test reaches: {', '.join(missing)}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
