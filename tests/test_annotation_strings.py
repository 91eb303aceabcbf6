"""String annotations are resolved without eval (so restricted interpreters can too)."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
import typing
from typing import Callable, Optional

import pytest

import wasmjit
from wasmjit import Kind, i32, i64
from wasmjit.model.annotations import resolve
from wasmjit.model.signature import infer

NAMESPACE = {"i32": i32, "i64": i64, "wasmjit": wasmjit, "typing": typing, "Callable": Callable, "Optional": Optional}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i32", i32),
        ("wasmjit.f64", wasmjit.f64),
        ("int", int),
        ("None", None),
        ("tuple[i32, i64]", tuple[i32, i64]),
        ("tuple[()]", tuple[()]),
        ("tuple[i32]", tuple[i32]),
        ("Callable[[i32, i32], i32]", Callable[[i32, i32], i32]),
        ("Optional[wasmjit.Caller]", Optional[wasmjit.Caller]),
        ("int | None", typing.Optional[int]),
        ("'i32'", i32),
        ("tuple['i32', \"i64\"]", tuple[i32, i64]),
        ("typing.Tuple[i32, ...]", typing.Tuple[i32, ...]),
    ],
)
def test_resolve_matches_eval(text: str, expected: object) -> None:
    assert resolve(text, NAMESPACE) == expected


@pytest.mark.parametrize("text", ["i32 +", "tuple[i32", "x.", "1 + 2", "i32)"])
def test_resolve_rejects_what_is_not_an_annotation(text: str) -> None:
    with pytest.raises((SyntaxError, NameError)):
        resolve(text, NAMESPACE)


def test_unknown_name_is_a_type_error_naming_the_parameter() -> None:
    def cb(x: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(TypeError, match=r"cannot resolve the annotation 'Missing' of parameter 'x' of .*cb"):
        infer(cb)


def test_doubly_quoted_annotations_resolve() -> None:
    def cb(x: "i64") -> "tuple[i32, 'i64']":  # quoted under `from __future__ import annotations`
        return 0, x

    signature, _ = infer(cb)
    assert signature.params == (Kind.I64,)
    assert signature.results == (Kind.I32, Kind.I64)


def test_partials_and_methods_resolve_in_their_own_module() -> None:
    class Host:
        def method(self, a: i32, b: i64) -> i64:
            return a + b

    def base(scale: int, x: i32) -> i32:
        return scale * x

    assert infer(Host().method)[0].params == (Kind.I32, Kind.I64)
    assert infer(functools.partial(base, 3))[0].params == (Kind.I32,)


def test_string_annotations_work_where_compile_is_forbidden() -> None:
    script = textwrap.dedent(
        """
        from __future__ import annotations
        import sys
        import wasmtime, wasmjit
        from wasmjit import i32, i64

        def deny(event, args):
            if event in ("compile", "exec", "code.__new__"):
                raise RuntimeError(f"{event} is forbidden here")

        sys.addaudithook(deny)

        def cb(a: i32, b: "i64") -> tuple[i64, i32]:
            return b, a

        store = wasmtime.Store()
        host = wasmjit.Function.from_callback(store, cb)
        assert host.backend == "reflect", host.backend
        assert host.signature.params == (wasmjit.Kind.I32, wasmjit.Kind.I64)
        assert wasmjit.typed(store, host)(1, 2) == (2, 1)
        print("OK")
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "OK"
