"""Callbacks whose annotations are evaluated lazily (PEP 649/749, CPython 3.14+).

Each case is a small module compiled from text, so this file imports on
every version; the plain-annotation cases that depend on deferred
evaluation run on 3.14+ only.  ``from __future__ import annotations``
modules (strings, resolved by wasmjit) run everywhere.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Dict

import pytest
import wasmtime
from wasm_helpers import available_backends

import wasmjit

BACKENDS = available_backends()
DEFERRED = sys.version_info >= (3, 14)

MODULE = """
from typing import Tuple
import wasmtime
from wasmjit import i32, i64, f64, externref, Caller

def add(a: i32, b: i32) -> i32:
    return a + b

def later(a: Later, b: i64) -> Tuple[Later, i64]:  # Later is bound after this def
    return a, b

Later = i32

def with_caller(caller: Caller, x: f64) -> f64:
    return x + 1.0

def make_local():
    Local = i64
    def local(x: Local) -> Local:
        return x * 2
    return local

def undefined(x: Nowhere) -> i32:
    return 0

class Holder:
    def method(self, x: i32) -> i32:
        return x + 3
"""


def load(future: bool) -> Dict[str, Any]:
    text = ("from __future__ import annotations\n" if future else "") + MODULE
    module = types.ModuleType(f"deferred_{'future' if future else 'plain'}")
    # dont_inherit: this test file's own __future__ import must not leak into the plain module.
    exec(compile(text, f"<{module.__name__}>", "exec", dont_inherit=True), module.__dict__)
    return module.__dict__


@pytest.fixture(params=["plain", "future"])
def namespace(request: pytest.FixtureRequest) -> Dict[str, Any]:
    if request.param == "plain" and not DEFERRED:
        pytest.skip("plain forward references need deferred annotations (3.14+)")
    return load(request.param == "future")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name, signature, args, expected",
    [
        ("add", "(i32, i32) -> i32", (2, 3), 5),
        ("later", "(i32, i64) -> (i32, i64)", (7, 1 << 40), [7, 1 << 40]),
        ("with_caller", "(Caller, f64) -> f64", (1.5,), 2.5),
    ],
)
def test_annotations_are_inferred_and_run(
    namespace: Dict[str, Any], backend: str, name: str, signature: str, args: Any, expected: Any
) -> None:
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, namespace[name], backend=backend)
    assert str(host.signature) == signature
    assert wasmtime.Func.__call__(host, store, *args) == expected


def test_a_method_is_inferred(namespace: Dict[str, Any]) -> None:
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, namespace["Holder"]().method)
    assert str(host.signature) == "(i32) -> i32"
    assert wasmtime.Func.__call__(host, store, 4) == 7


@pytest.mark.skipif(not DEFERRED, reason="deferred annotations are 3.14+")
def test_plain_annotations_see_the_enclosing_scope() -> None:
    # Deferred annotations are closures: a local alias works (a string
    # annotation under the __future__ import cannot see it).
    local = load(future=False)["make_local"]()
    store = wasmtime.Store()
    host = wasmjit.Function.from_callback(store, local)
    assert str(host.signature) == "(i64) -> i64"
    assert wasmtime.Func.__call__(host, store, 21) == 42


def test_future_local_alias_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot resolve the annotation 'Local'"):
        wasmjit.Function.from_callback(wasmtime.Store(), load(future=True)["make_local"]())


def test_an_undefined_name_is_a_type_error(namespace: Dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="Nowhere"):
        wasmjit.Function.from_callback(wasmtime.Store(), namespace["undefined"])
