"""The package follows the flow of a night: each subpackage owns one stage and says so in one line."""

import ast
from pathlib import Path

import cosell

PACKAGE = Path(cosell.__file__).parent
STAGES = {"landing", "gates", "build", "publish", "payouts", "orchestration", "synthetic", "connectors"}
SHARED = {"__init__", "cli", "config", "contract", "db", "errors", "faults", "leftovers"}


def docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text()))


def test_the_top_level_holds_only_the_stages_and_what_they_share():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert packages == STAGES
    assert modules == SHARED


def test_every_package_says_in_one_line_what_it_owns():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        text = docstring(init)
        assert text, f"{init.parent.name} has no docstring"
        assert "\n" not in text.strip(), f"{init.parent.name}: the docstring is one line"


def test_every_module_has_a_docstring():
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py")) if not docstring(p)]
    assert missing == []


def test_the_fast_tier_counts_the_modules_a_test_file_uses():
    import test_raw_export
    from fast_tier import unreached, used_by

    used = used_by(test_raw_export)
    assert {"cosell.build.raw_export", "cosell.landing.load", "cosell.synthetic.generate"} <= used
    missing = unreached(used)
    assert "cosell.publish.dashboard" in missing
    assert "cosell.build" not in missing and "cosell.errors" not in missing  # its package; what load.py uses
