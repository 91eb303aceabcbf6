"""Interpreters that forbid dynamic code, in real subprocesses.

The audit hooks are installed *after* wasmjit, wasmtime and ``bytecode`` are
imported (importing a module whose ``.pyc`` is missing or stale raises
"compile"/"exec" events of its own, which has nothing to do with wasmjit),
but *before* the first registration: ``wasmjit.probe()`` runs lazily, at
first use, so that is when the hook must already be in place.
"""

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, Optional

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

PRELUDE = f"""
import json, sys
sys.path.insert(0, {TESTS!r})
import wasmtime
import wasmjit
import bytecode, dis, linecache, inspect, typing  # everything wasmjit may import lazily
from wasmjit import i32, i64, f64, externref
from wasm_helpers import forwarding_wat, functype, instantiate

def forbid(*events):
    events = frozenset(events)
    def hook(event, args):
        if event in events:
            raise RuntimeError(f"audit hook forbids {{event}}")
    sys.addaudithook(hook)

def exercise(**kw):
    '''Register callbacks of a few signatures and check real calls; return the backends.'''
    store = wasmtime.Store()
    backends = []

    def mix(a: i32, b: i64, c: f64, d: externref) -> tuple[externref, f64, i64, i32]:
        return d, c * 2, b - 1, a + 1

    host = wasmjit.Function.from_callback(store, mix, **kw)
    backends.append(host.backend)
    kinds_in, kinds_out = ["i32", "i64", "f64", "externref"], ["externref", "f64", "i64", "i32"]
    run = instantiate(store, forwarding_wat(kinds_in, kinds_out, carriers=False), [host])["run"]
    token = object()
    out = run(store, 1, 2, 0.25, token)
    assert out[0] is token and out[1:] == [0.5, 1, 2], out
    assert wasmjit.typed(store, run)(1, 2, 0.25, token)[1:] == (0.5, 1, 2)

    error = KeyError("crossed")
    def fail(x: i32) -> i32:
        raise error
    host = wasmjit.Function.from_callback(store, fail, **kw)
    backends.append(host.backend)
    run = instantiate(store, forwarding_wat(["i32"], ["i32"], carriers=False), [host])["run"]
    try:
        run(store, 1)
    except KeyError as exc:
        assert exc is error
    else:
        raise AssertionError("nothing raised")

    def bad() -> i32:
        return "no"
    host = wasmjit.Function.from_callback(store, bad, **kw)
    backends.append(host.backend)
    try:
        host(store)
    except TypeError as exc:
        assert "result 0 of" in str(exc) and "bad" in str(exc), exc
    else:
        raise AssertionError("nothing raised")

    linker = wasmjit.Linker(store.engine)
    backends.append(linker.define_callback("host", "f", lambda x: x * 3, type=functype(["i32"], ["i32"]), **kw))
    module = wasmtime.Module(store.engine, forwarding_wat(["i32"], ["i32"], carriers=False))
    assert linker.instantiate(store, module).exports(store)["run"](store, 5) == 15
    return backends

def dynamic_true():
    try:
        backend = wasmjit.Function.from_callback(wasmtime.Store(), lambda: None, type=functype([], []),
                                                 dynamic_code=True).backend
    except wasmjit.DynamicCodeUnavailable as exc:
        return "DynamicCodeUnavailable: " + str(exc)
    return backend

def forced(name):
    try:
        return wasmjit.Function.from_callback(wasmtime.Store(), lambda: None, type=functype([], []),
                                              backend=name).backend
    except wasmjit.DynamicCodeUnavailable:
        return "DynamicCodeUnavailable"

def report(**values):
    print("REPORT " + json.dumps(values))
"""


def run_script(body: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    environment = dict(os.environ)
    environment.pop("WASMJIT_DYNAMIC_CODE", None)
    environment.update(env or {})
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment)
    details = f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, details
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert len(lines) == 1, details
    return dict(json.loads(lines[0][len("REPORT ") :]))


def test_no_dynamic_code_at_all_falls_back_to_reflect():
    result = run_script(
        """
        forbid("compile", "exec", "code.__new__")
        probe = wasmjit.probe()
        report(probe=probe, backends=exercise(), dynamic=dynamic_true(),
               bytecode=forced("bytecode"), source=forced("source"), reflect=forced("reflect"))
        """
    )
    assert result["probe"]["bytecode"] is not None
    assert result["probe"]["source"] is not None
    assert result["probe"]["reflect"] is None
    assert result["backends"] == ["reflect"] * 4
    assert result["dynamic"].startswith("DynamicCodeUnavailable")
    assert (result["bytecode"], result["source"], result["reflect"]) == (
        "DynamicCodeUnavailable",
        "DynamicCodeUnavailable",
        "reflect",
    )


def test_no_new_code_objects_falls_back_to_source():
    result = run_script(
        """
        forbid("code.__new__")
        report(probe=wasmjit.probe(), backends=exercise(), dynamic=dynamic_true(), bytecode=forced("bytecode"))
        """
    )
    assert result["probe"]["bytecode"] is not None
    assert result["probe"]["source"] is None
    assert result["backends"] == ["source"] * 4
    assert result["dynamic"] == "source"
    assert result["bytecode"] == "DynamicCodeUnavailable"


@pytest.mark.parametrize("value", ["0", "false", "off", "no"])
def test_environment_variable_selects_reflect(value):
    result = run_script(
        """
        report(policy=wasmjit.get_dynamic_code(), probe=wasmjit.probe(), backends=exercise(),
               dynamic=dynamic_true(), source=forced("source"))
        """,
        env={"WASMJIT_DYNAMIC_CODE": value},
    )
    assert result["policy"] is False
    assert result["backends"] == ["reflect"] * 4
    # Generated code is still allowed when asked for explicitly.
    assert result["probe"]["source"] is None
    assert result["dynamic"] in ("bytecode", "source")
    assert result["source"] == "source"


def test_environment_variable_can_demand_generated_code():
    script = "report(policy=wasmjit.get_dynamic_code(), backends=exercise())"
    result = run_script(script, env={"WASMJIT_DYNAMIC_CODE": "1"})
    assert result["policy"] is True
    assert "reflect" not in result["backends"]


def test_set_dynamic_code_false_selects_reflect():
    result = run_script(
        """
        wasmjit.set_dynamic_code(False)
        first = exercise()
        wasmjit.set_dynamic_code(None)
        report(first=first, then=exercise())
        """
    )
    assert result["first"] == ["reflect"] * 4
    assert "reflect" not in result["then"]


def test_dynamic_code_false_needs_no_permission():
    """``dynamic_code=False`` never triggers a forbidden event, even before the probe ran."""
    result = run_script(
        """
        forbid("compile", "exec", "code.__new__")
        report(backends=exercise(dynamic_code=False))
        """
    )
    assert result["backends"] == ["reflect"] * 4


def test_hook_installed_after_first_use_keeps_registrations_working():
    """A sandbox that locks down after start-up: already generated signatures
    and new ones must keep registering (falling back to reflect), not fail."""
    result = run_script(
        """
        before = exercise()
        forbid("compile", "exec", "code.__new__")
        after = exercise()
        report(before=before, after=after)
        """
    )
    assert "reflect" not in result["before"]
    assert len(result["after"]) == 4
