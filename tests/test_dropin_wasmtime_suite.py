"""wasmtime-py's own test suite passes with wasmjit.install() active.

The suite ships in wasmtime's source distribution on PyPI.  It is fetched
at test time (never copied into this repository): ``pip download`` of the
sdist matching the installed wasmtime, then its tests for the modules
install() touches run in a subprocess whose conftest installs wasmjit.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

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
import pytest
import wasmtime
import wasmjit

wasmjit.install()


@pytest.fixture(autouse=True, scope="session")
def _wasmjit_is_active():
    # Prove the run is on wasmjit: a Func built now must carry wasmjit's
    # trampoline.  (Not at import time: an Engine created before pytest
    # enables faulthandler would have its trap handlers shadowed.)
    probe = wasmtime.Func(wasmtime.Store(), wasmtime.FuncType([], []), lambda: None)
    assert getattr(probe, "_wasmjit_prepared", None) is not None, "install() is not active"
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
        members = [m for m in tar.getmembers() if "/tests/" in m.name and not m.name.rstrip("/").endswith("/component")]
        tar.extractall(root / "src", members=members, filter="data")
    tests = next((root / "src").glob("wasmtime-*/tests"))
    # Only the tests: the sdist's own ``wasmtime/`` package must not shadow the installed one.
    suite = root / "suite"
    suite.mkdir()
    (suite / "tests").symlink_to(tests)
    (suite / "conftest.py").write_text(CONFTEST)
    return suite


def test_wasmtime_py_suite_passes_with_install(wasmtime_tests: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
        + [f"tests/{name}" for name in SUITES],
        cwd=wasmtime_tests,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
