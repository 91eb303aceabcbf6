"""wasmtime-py's own test suite passes with wasmjit.install() active.

The suite ships in wasmtime's source distribution on PyPI.  It is fetched
at test time (never copied into this repository): ``pip download`` of the
sdist matching the installed wasmtime.  The whole suite (core and component
tests) runs twice in subprocesses, stock and with a conftest that installs
wasmjit, and the outcomes are compared test by test: a test that passes
stock and not under install() fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict

import pytest
import wasmtime  # noqa: F401

SUITES = [
    "test_func.py",
    "test_linker.py",
    "test_memory.py",
    "test_refs.py",
    "test_trap.py",
    "test_instance.py",
    "test_value.py",
    "test_store.py",
]

CONFTEST = """\
import os
import pytest
import wasmtime
import wasmjit

if os.environ.get("WASMJIT_SUITE_MODE") == "install":
    wasmjit.install()


@pytest.fixture(autouse=True, scope="session")
def _wasmjit_is_active():
    # Prove the run is on wasmjit: a Func built now must carry wasmjit's
    # trampoline.  (Not at import time: an Engine created before pytest
    # enables faulthandler would have its trap handlers shadowed.)
    probe = wasmtime.Func(wasmtime.Store(), wasmtime.FuncType([], []), lambda: None)
    active = getattr(probe, "_wasmjit_prepared", None) is not None
    assert active == (os.environ.get("WASMJIT_SUITE_MODE") == "install"), "install() is not as asked"
"""


def _installed_wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


@pytest.fixture(scope="module")
def wasmtime_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wasmtime-sdist")
    version = _installed_wasmtime_version()
    download = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(root),
            f"wasmtime=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert download.returncode == 0, download.stdout + download.stderr
    archive = next(root.glob("wasmtime-*.tar.gz"))
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name]
        tar.extractall(root / "src", members=members, filter="data")
    tests = next((root / "src").glob("wasmtime-*/tests"))
    # Only the tests: the sdist's own ``wasmtime/`` package must not shadow the installed one.
    suite = root / "suite"
    suite.mkdir()
    (suite / "tests").symlink_to(tests)
    (suite / "conftest.py").write_text(CONFTEST)
    # Its WASI test preopens ./wasmtime; an empty directory does not shadow the installed package.
    (suite / "wasmtime").mkdir()
    return suite


def _outcomes(suite: Path, mode: str, files: "list[str]") -> Dict[str, str]:
    """Each test of the suite -> ``passed``, ``failed`` or ``skipped``, run in ``mode``."""
    report = suite / f"report-{mode}.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, f"--junit-xml={report}", *files],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "WASMJIT_SUITE_MODE": mode},
    )
    assert report.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    outcomes: Dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        children = {child.tag for child in case}
        failed = bool(children & {"failure", "error"})
        outcomes[name] = "failed" if failed else "skipped" if "skipped" in children else "passed"
    return outcomes


def test_wasmtime_py_suite_passes_with_install(wasmtime_tests: Path) -> None:
    """The files install() touches most: every test passes under install()."""
    outcomes = _outcomes(wasmtime_tests, "install", [f"tests/{name}" for name in SUITES])
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert outcomes and not failed, failed


def test_wasmtime_py_whole_suite_same_outcomes_stock_and_installed(wasmtime_tests: Path) -> None:
    """Every test of wasmtime-py's suite, core and component: none passes stock and fails under install()."""
    stock = _outcomes(wasmtime_tests, "stock", ["tests"])
    installed = _outcomes(wasmtime_tests, "install", ["tests"])
    assert len(stock) >= 150, f"only {len(stock)} tests collected"
    assert set(stock) == set(installed)
    regressions = sorted(name for name in stock if stock[name] == "passed" and installed[name] != "passed")
    assert not regressions, regressions
