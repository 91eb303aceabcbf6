"""Types flow to type checkers: ``mypy --strict`` (and pyright) over a user program.

tests/typing/program.py calls ``wasmjit.typed`` with and without
``signature=``, decorates functions with ``@linker.callback``, and reads
``wasmjit.exports``; :data:`EXPECTED` says what each of its ``reveal_type``
calls must show.  Lines the checker must reject carry ``# type: ignore[...]``,
which fails the check when nothing needed ignoring.

The mypy check needs a mypy that knows PEP 747 ``TypeForm``; the pyright
check runs where a ``pyright`` command is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "typing" / "program.py"

#: For each ``reveal_type(EXPRESSION)`` of the program: what mypy and what pyright show.
EXPECTED: Dict[str, Tuple[str, str]] = {
    # typed() with signature=: callable as the signature says.
    "add": ("wasmjit.calls.TypedFunc[[int, int], int]", "TypedFunc[(int, int), int]"),
    "add(1, 2)": ("int", "int"),
    "divmod_": ("wasmjit.calls.TypedFunc[[int, int], tuple[int, int]]", "TypedFunc[(int, int), tuple[int, int]]"),
    # One result is returned bare, even when written tuple[R].
    "wasmjit.typed(store, func, Callable[[i32], tuple[i32]])": (
        "wasmjit.calls.TypedFunc[[int], int]",
        "TypedFunc[(int), int]",
    ),
    "wasmjit.typed(store, func, Callable[[], None])": ("wasmjit.calls.TypedFunc[[], None]", "TypedFunc[(), None]"),
    "greet": ("wasmjit.calls.TypedFunc[[str], bytes]", "TypedFunc[(str), bytes]"),
    # typed() without signature=.
    "untyped": ("wasmjit.calls.TypedFunc[..., Any]", "TypedFunc[..., Any]"),
    "untyped(1, 2)": ("Any", "Any"),
    # The decorator returns the function with its own type.
    "double": ("def (x: int) -> int", "(x: int) -> int"),
    "double(21)": ("int", "int"),
    "clock": ("def () -> float", "() -> float"),
    "wasmjit.Function.from_callback(store, double)": ("wasmjit.callbacks.Function", "Function"),
    # exports(): its attributes are Any.
    "ex": ("wasmjit.exports.Exports", "Exports"),
    "ex.add": ("Any", "Any"),
    'ex["do-work"]': ("Any", "Any"),
    "len(ex)": ("int", "int"),
}

REVEAL = re.compile(r"^\s*reveal_type\((?P<expression>.*)\)\s*$")


def reveals() -> Dict[int, str]:
    """Line number -> the expression revealed there."""
    found = {}
    for number, line in enumerate(PROGRAM.read_text(encoding="utf-8").splitlines(), 1):
        match = REVEAL.match(line)
        if match:
            found[number] = match.group("expression")
    return found


def test_every_reveal_is_expected() -> None:
    assert sorted(reveals().values()) == sorted(EXPECTED)


def compare(revealed: Dict[int, str], checker: int, output: str) -> None:
    wanted = {number: EXPECTED[expression][checker] for number, expression in reveals().items()}
    got = {number: revealed.get(number) for number in wanted}
    assert got == wanted, output


def mypy_feature_flags() -> List[str]:
    options = pytest.importorskip("mypy.options")
    type_form = getattr(options, "TYPE_FORM", None)
    if type_form is None:
        pytest.skip("this mypy predates PEP 747 TypeForm")
    return [f"--enable-incomplete-feature={type_form}"] if type_form in options.INCOMPLETE_FEATURES else []


def test_mypy_strict_sees_the_types(tmp_path: Path) -> None:
    flags = mypy_feature_flags()
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        *flags,
        str(PROGRAM.relative_to(ROOT)),
    ]
    env = dict(os.environ, MYPYPATH=str(ROOT))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    revealed = {}
    for line in done.stdout.splitlines():
        match = re.match(r'^[^:]*program\.py:(\d+): note: Revealed type is "(.*)"$', line)
        if match:
            # mypy writes the parameters of TypedFunc[..., Any] either way.
            revealed[int(match.group(1))] = match.group(2).replace("[[*Any, **Any], ", "[..., ")
    compare(revealed, 0, output)


def test_pyright_sees_the_types(tmp_path: Path) -> None:
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed")
    config = {
        "extraPaths": [str(ROOT)],
        "pythonVersion": "3.11",
        "typeCheckingMode": "strict",
        "reportUnnecessaryTypeIgnoreComment": "error",
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    command = [pyright, "--outputjson", "--pythonpath", sys.executable, "--project", str(tmp_path), str(PROGRAM)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["filesAnalyzed"] == 1, output
    revealed = {}
    errors = []
    for diagnostic in report["generalDiagnostics"]:
        line = diagnostic["range"]["start"]["line"] + 1
        message = diagnostic["message"]
        match = re.match(r'^Type of ".*" is "(.*)"$', message, re.DOTALL)
        if diagnostic["severity"] == "information" and match:
            revealed[line] = match.group(1)
        elif diagnostic["severity"] == "error":
            errors.append(f"{line}: {message}")
    assert not errors, output
    compare(revealed, 1, output)
