"""The IR's reference interpreter (tests/ir_oracle.py) itself.

The oracle is what the differential tests hold every backend to, so it is
checked here against CPython directly: its calling-convention errors and
unpacking errors are CPython's, its ``try`` catches what Python's does, it
refuses what it does not know before anything runs, and a backend that does
something other than its program is caught by the differential harness.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, Dict, Tuple

import pytest
import test_fuzz_differential as fuzz
import wasmtime
from ir_oracle import Oracle, OracleError, OracleTemplate, arity_error, make_trampoline, oracle_backend
from ir_oracle import _unpack as oracle_unpack

import wasmjit
from wasmjit import backends
from wasmjit.model import ir
from wasmjit.model.plan import Direction, Plan


def python_function(parameters: Tuple[str, ...], extra: bool) -> Any:
    """A real ``def f(<parameters>, /[, *extra])``."""
    signature = ", ".join([*parameters, *(["/"] if parameters else []), *(["*extra"] if extra else [])])
    namespace: Dict[str, Any] = {}
    exec(f"def f({signature}):\n    return None\n", namespace)
    return namespace["f"]


@pytest.mark.parametrize("extra", [False, True])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 4])
def test_arity_errors_are_cpythons(count: int, extra: bool) -> None:
    parameters = tuple(f"a{i}" for i in range(count))
    function = python_function(parameters, extra)
    function.__qualname__ = "named.<locals>.f"
    calls = [(n, ()) for n in range(count + 3)]
    calls += [(1, ("a0",)), (0, ("a1", "a0")), (2, ("x",)), (count, ("extra",)), (count + 1, ("a0", "zz"))]
    for given, keywords in calls:
        try:
            function(*range(given), **dict.fromkeys(keywords, 0))
        except TypeError as exc:
            expected = str(exc)
        else:
            expected = None
        error = arity_error(function.__qualname__, parameters, extra, given, keywords)
        assert (None if error is None else str(error)) == expected, (given, keywords)


@pytest.mark.parametrize("value", [(), (1,), (1, 2), (1, 2, 3), [1, 2, 3, 4], 5, None, "ab", iter(range(9))])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_unpacking_errors_are_cpythons(count: int, value: Any) -> None:
    namespace: Dict[str, Any] = {}
    targets = ", ".join(f"t{i}" for i in range(count))
    exec(f"def f(v):\n    {targets}, = v\n    return ({targets},)\n", namespace)
    materialised = list(value) if hasattr(value, "__next__") else value
    try:
        expected: Any = namespace["f"](iter(materialised) if hasattr(value, "__next__") else materialised)
    except (TypeError, ValueError) as exc:
        expected = (type(exc), str(exc))
    try:
        got: Any = oracle_unpack(iter(materialised) if hasattr(value, "__next__") else materialised, count)
    except (TypeError, ValueError) as exc:
        got = (type(exc), str(exc))
    assert got == expected


def run(program: ir.Program, constants: Dict[str, Any], *args: Any) -> Any:
    return make_trampoline(Oracle(program, constants))(*args)


def test_try_catches_base_exceptions_and_unbinds_its_name() -> None:
    seen = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    program = ir.Program(
        "p",
        ("x",),
        (
            ir.try_([ir.do("interrupt")], (ir.do("seen", "exc"),), "exc"),
            ir.return_(ir.call("seen", "exc")),
        ),
        "",
    )
    with pytest.raises(UnboundLocalError, match="cannot access local variable 'exc'"):
        run(program, {"interrupt": interrupt, "seen": seen.append}, 1)
    assert len(seen) == 1 and isinstance(seen[0], KeyboardInterrupt)


def test_the_trampoline_is_a_real_function_named_by_its_qualname() -> None:
    program = ir.Program(
        "p", ("a0", "a1"), (ir.return_(ir.MakeTuple((ir.Name("a1"), ir.Name("extra")))),), "doc", extra="extra"
    )
    trampoline = make_trampoline(Oracle(program, {}))
    assert trampoline.__name__ == "p" and trampoline.__doc__ == "doc"
    assert trampoline(1, 2, 3, 4) == (2, (3, 4))
    trampoline.__qualname__ = "renamed"
    with pytest.raises(TypeError, match=r"^renamed\(\) missing 1 required positional argument: 'a1'$"):
        trampoline(1)


def test_unknown_nodes_and_names_are_refused_before_running() -> None:
    @dataclasses.dataclass(frozen=True)
    class Goto:
        label: str

    with pytest.raises(OracleError, match="does not know the statement"):
        Oracle(ir.Program("p", (), (Goto("x"),), ""), {})  # type: ignore[arg-type]
    with pytest.raises(OracleError, match="no value for the constant"):
        Oracle(ir.Program("p", (), (ir.do("nowhere"),), ""), {})


def test_oracle_backend_registers_and_unregisters(store: wasmtime.Store) -> None:
    def add(a: wasmjit.i32, b: wasmjit.i32) -> wasmjit.i32:
        return a + b

    assert "oracle" not in backends.FACTORIES
    with oracle_backend() as name, oracle_backend():
        host = wasmjit.Function.from_callback(store, add, backend=name)
        call = wasmjit.typed(store, host, backend=name)
        assert (host.backend, call.backend, call(2, 3)) == ("oracle", "oracle", 5)
        assert "interprets (reference oracle)" in wasmjit.explain(call)
        assert backends.generation_count()["oracle"] >= 2
    assert "oracle" not in backends.FACTORIES
    assert "oracle" not in backends.generation_count()
    assert call(4, 5) == 9  # what was bound keeps working


def swapping(direction: Direction) -> type:
    """The oracle running a wrong program of ``direction``: its last two results swapped."""

    class SwappingTemplate(OracleTemplate):
        backend = "mutant"

        def __init__(self, plan: Plan, statics: Dict[str, Any]) -> None:
            super().__init__(plan, statics)
            if plan.direction is direction:
                self.program = dataclasses.replace(self.program, body=tuple(swap(s) for s in self.program.body))

    return SwappingTemplate


def swap(stmt: Any) -> Any:
    match stmt:
        case ir.Try(body=body, handler=handler, name=name):
            return ir.Try(tuple(swap(s) for s in body), handler, name)
        case ir.Do(value=ir.Call(func="encode", args=args)) if len(args) >= 4:
            return ir.Do(ir.Call("encode", (*args[:-2], args[-1], args[-2])))
        case ir.Return(value=ir.MakeTuple(items=items)) if len(items) >= 2:
            return ir.Return(ir.MakeTuple((*items[:-2], items[-1], items[-2])))
    return stmt


@pytest.mark.parametrize("direction", [Direction.CALLBACK, Direction.CALL])
def test_the_harness_catches_a_backend_that_strays_from_its_program(
    direction: Direction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(backends.FACTORIES, "mutant", swapping(direction))
    monkeypatch.setitem(backends._generations, "mutant", 0)
    case = fuzz.random_case(random.Random(1), fuzz.Sig(("i32",), ("i64", "i64")))
    case = dataclasses.replace(case, results=(fuzz.Value("i64", 1), fuzz.Value("i64", 2)), raises=False, as_list=False)
    try:
        with pytest.raises(fuzz.Mismatch) as caught:
            fuzz.run_case(case, backends=("mutant",))
        wrong = r"result 0 \(i64\): sent 1, expected \('int', 1\), got \('int', 2\)"
        assert re.search(f"host=mutant via stock call run: {wrong}", str(caught.value)) or direction is Direction.CALL
        assert re.search(f"host=stock via typed\\[mutant\\] run: {wrong}", str(caught.value)) or (
            direction is Direction.CALLBACK
        )
        # The oracle itself agrees with the model on the same case.
        fuzz.run_case(case, backends=("oracle",))
    finally:
        for key in [key for key in backends._templates if key[1] == "mutant"]:
            del backends._templates[key]


def _renderings(program: ir.Program, constants: Dict[str, Any]) -> Dict[str, Any]:
    """``program`` as each renderer makes it: the oracle, the source text exec'd, the assembled code."""
    import types

    from wasmjit.backends import bytecode as bytecode_backend

    rendering = ir.render_python(program)
    namespace: Dict[str, Any] = dict(constants)
    exec(rendering.text, namespace)
    out = {"oracle": make_trampoline(Oracle(program, constants)), "source": namespace[program.name]}
    if bytecode_backend.unsupported_reason() is None:
        shape = dataclasses.replace(program, name="trampoline", docstring="")
        code = bytecode_backend._assemble(shape, ir.constants_of(program), rendering.lines)
        consts = tuple(constants[c.name] if isinstance(c, bytecode_backend._Placeholder) else c for c in code.co_consts)
        out["bytecode"] = types.FunctionType(code.replace(co_consts=consts), {"__builtins__": {}})
    return out


def test_item_span_and_less_than_agree_in_every_rendering() -> None:
    """The IR's reads through a memoryview (``Item``, ``Span``) and its ``<``, which host programs
    (a record's names) and typed calls (the room check) use: every rendering gives the oracle's
    answers, an out-of-range item raising alike."""
    program = ir.Program(
        "p",
        ("at", "n"),
        (
            ir.assign("first", ir.item("MEMORY", "at")),
            ir.assign("part", ir.span("MEMORY", "at", 3)),
            ir.if_(ir.ne(ir.span("MEMORY", "at", 2), "NAME"), ir.return_(ir.MakeTuple((ir.Name("first"),)))),
            ir.if_(ir.lt("n", "LIMIT"), ir.return_(ir.MakeTuple((ir.Name("first"), ir.Name("part"), ir.Literal(1))))),
            ir.return_(ir.MakeTuple((ir.Name("first"), ir.Name("part"), ir.Literal(0)))),
        ),
        "doc",
    )
    constants = {"MEMORY": memoryview(b"abcdefgh"), "NAME": b"cd", "LIMIT": 5}
    renderings = _renderings(program, constants)
    assert set(renderings) >= {"oracle", "source"}

    def outcome(function: Any, *args: Any) -> Any:
        try:
            got = function(*args)
        except Exception as exc:
            return type(exc)
        return tuple(bytes(x) if isinstance(x, memoryview) else x for x in got)

    cases = [(2, 4), (2, 5), (2, 9), (0, 1), (7, 0), (8, 0), (-1, 0)]
    c, a, h = ord("c"), ord("a"), ord("h")
    expected = [(c, b"cde", 1), (c, b"cde", 0), (c, b"cde", 0), (a,), (h,), IndexError, (h,)]
    for name, function in renderings.items():
        assert [outcome(function, *case) for case in cases] == expected, name
