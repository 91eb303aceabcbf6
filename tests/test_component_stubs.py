"""``python -m wasmjit.component stubs``: typed declarations of a component, and their round trip.

The generated module must import, pass ``mypy --strict``, be accepted by
``bind(store, instance, Exports)`` and ``define_imports(..., Imports)``
(checked against the component), and give correct values with its classes:
on the hand-written component of tests/test_component_bind.py and on random
WIT function types from tests/component_gen.py (every value converted from
stock's shapes to the stub's classes, sent through a wasmjit host function
and a wasmjit typed call, and compared).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import inspect
import math
import operator
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("wasmtime.component")

import wasmtime
import wasmtime.component as wc
from component_gen import (
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    Type,
    VariantT,
    cases_of,
    make_case,
    stock_classes,
    stock_tagged,
    wit,
)
from test_component_bind import RICH

from tests.component_gen import portable
from wasmjit.component import Err, Ok, ShapeError, Some, define_callback
from wasmjit.component.bind import BindError, bind, check_protocol, define_imports
from wasmjit.component.calls import signature_shapes
from wasmjit.component.stubs import generate, generate_from_path
from wasmjit.model import wit as witm
from wasmjit.model.shapes import Shape

ROOT = Path(__file__).resolve().parent.parent
RANDOM_SEEDS = range(60)


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


_counter = iter(range(10**9))


def load(source: str, directory: Path, name: str = "") -> types.ModuleType:
    """Import ``source`` as a fresh module (written to ``directory``)."""
    name = name or f"stubs_{next(_counter)}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def run_mypy(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``files`` (wasmjit itself is followed silently: its own check is not this one)."""
    env = dict(os.environ, MYPYPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", *files],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# The hand-written component ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich(engine: wasmtime.Engine) -> wc.Component:
    return wc.Component(engine, portable(RICH))


@pytest.fixture(scope="module")
def rich_source(engine: wasmtime.Engine, rich: wc.Component) -> str:
    return generate(rich, engine, name="rich.wat")


@pytest.fixture
def rich_stubs(rich_source: str, tmp_path: Path) -> types.ModuleType:
    return load(rich_source, tmp_path)


def test_declarations(rich_source: str) -> None:
    src = rich_source
    assert "@dataclass\nclass Point:" in src and "    x: float\n    y_pos: float\n" in src
    assert "class Color(enum.Enum):" in src and '    DARK_BLUE = "dark-blue"' in src
    assert "class Perms(enum.Flag):" in src and "    EXEC = enum.auto()" in src
    assert "class Circle:" in src and "    value: float" in src and "class Rect:" in src and "    value: Point" in src
    assert "Shape: TypeAlias = Union[Circle, Rect, Empty]" in src
    assert "class Geometry(Protocol):" in src and "class HostMath(Protocol):" in src
    assert 'geometry: Annotated[Geometry, "ns:pkg/geometry@1.0.0"]' in src
    assert 'host_math: Annotated[HostMath, "ns:pkg/host-math"]' in src
    assert "def safe_div(self, a: int, b: int, /) -> Ok[int] | Err[str]:" in src
    assert "def maybe_double(self, x: int | None, /) -> int | None:" in src
    assert "def log_it(self, msg: str, /) -> None:" in src
    assert "def log_line(self, msg: str, /) -> None:" in src
    assert '"""``norm: func(p: Point) -> f64``"""' in src
    assert src.startswith('"""Typed declarations of the component ``rich.wat``')


def test_imports_cleanly(rich_stubs: types.ModuleType) -> None:
    for name in rich_stubs.__all__:
        assert hasattr(rich_stubs, name)
    assert rich_stubs.__all__[-4:] == ["Exports", "Imports", "bind", "define_imports"]
    assert [m.value for m in rich_stubs.Color] == ["red", "green", "dark-blue"]
    assert dataclasses.is_dataclass(rich_stubs.Point)


def test_round_trip(engine: wasmtime.Engine, rich: wc.Component, rich_stubs: types.ModuleType) -> None:
    s = rich_stubs
    lines: list[str] = []

    class HostMath:
        def mul(self, a: int, b: int) -> int:
            return a * b

    class Host(s.Imports):  # type: ignore[name-defined,misc]
        host_math = HostMath()

        def log_line(self, msg: str) -> None:
            lines.append(msg)

    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    define_imports(linker, rich, Host(), s.Imports)
    instance = linker.instantiate(store, rich)
    for exports in (bind(store, instance, s.Exports), bind(store, instance, s.Exports, component=rich)):
        assert exports.add_numbers(2, 3) == 5
        assert exports.next_color(s.Color.DARK_BLUE) is s.Color.RED
        assert exports.toggle_perms(s.Perms.READ | s.Perms.EXEC) == s.Perms.WRITE
        assert exports.safe_div(9, 2) == Ok(4)
        assert exports.safe_div(9, 0) == Err("division by zero")
        assert exports.area(s.Circle(1.0)) == 3.0
        assert exports.area(s.Rect(s.Point(2.0, 5.0))) == 10.0
        assert exports.area(s.Empty()) == 0.0
        assert exports.maybe_double(5) == 10 and exports.maybe_double(None) is None
        assert exports.greet("stubs") == "hello, stubs"
        assert exports.call_mul(7, 6) == 42
        assert exports.geometry.norm(s.Point(5.0, 12.0)) == 13.0
        assert exports.geometry.add_two(1, 2) == 3
        exports.log_it("logged")
    assert lines == ["logged", "logged"]


def test_stub_annotations_for_define_callback_checked_at_load_time(
    engine: wasmtime.Engine, rich: wc.Component, rich_stubs: types.ModuleType
) -> None:
    """Host functions registered one by one: ``check_protocol`` is the load-time check."""
    s = rich_stubs
    check_protocol(rich, engine, s.Imports, imports=True)
    check_protocol(rich, engine, s.Exports)
    lines: list[str] = []
    linker = wc.Linker(engine)
    with linker.root() as root:

        @define_callback(root, "log-line")
        def log_line(msg: str) -> None:
            lines.append(msg)

        with root.add_instance("ns:pkg/host-math") as math:

            @define_callback(math, "mul")
            def mul(a: int, b: int) -> int:
                return a * b

    store = wasmtime.Store(engine)
    exports = s.bind(store, linker.instantiate(store, rich))
    exports.log_it("via decorator")
    assert lines == ["via decorator"] and exports.call_mul(4, 5) == 20

    class Stale(s.Imports):  # type: ignore[name-defined,misc]
        def log_line(self, msg: bytes, /) -> None: ...

    with pytest.raises(ShapeError, match=r"Stale\.log_line, parameter 0 \(msg\): string is str, not bytes"):
        check_protocol(rich, engine, Stale, imports=True)
    with pytest.raises(BindError, match=r"Imports\.log_line: the component exports no function log_line"):
        check_protocol(rich, engine, s.Imports)  # the imports are not exports


def test_mypy_strict_on_stub_and_its_use(rich_source: str, tmp_path: Path) -> None:
    (tmp_path / "rich_stubs.py").write_text(rich_source)
    (tmp_path / "use_rich.py").write_text(
        textwrap.dedent(
            """
            import wasmtime
            import wasmtime.component as wc

            from wasmjit.component import Err, Ok
            from rich_stubs import Circle, Color, Imports, Perms, Point, bind, define_imports


            class HostMath:
                def mul(self, a: int, b: int, /) -> int:
                    return a * b


            class Host(Imports):
                host_math = HostMath()

                def log_line(self, msg: str, /) -> None:
                    print(msg)


            def use(store: wasmtime.Store, linker: wc.Linker, component: wc.Component) -> float:
                define_imports(linker, component, Host())
                exports = bind(store, linker.instantiate(store, component))
                color: Color = exports.next_color(Color.RED)
                perms: Perms = exports.toggle_perms(Perms.READ)
                div = exports.safe_div(1, 2)
                if isinstance(div, Ok):
                    quotient: int = div.value
                elif isinstance(div, Err):
                    message: str = div.value
                maybe: int | None = exports.maybe_double(None)
                print(color, perms, maybe)
                return exports.geometry.norm(Point(1.0, 2.0)) + exports.area(Circle(1.0))
            """
        )
    )
    result = run_mypy(tmp_path, "rich_stubs.py", "use_rich.py")
    assert result.returncode == 0, result.stdout + result.stderr
    # And mypy does check uses against the stub:
    (tmp_path / "misuse.py").write_text(
        textwrap.dedent(
            """
            from typing import Any
            from rich_stubs import bind, define_imports

            class NoHost:
                def log_line(self, msg: int, /) -> None: ...

            def f(store: Any, instance: Any, linker: Any, component: Any) -> str:
                define_imports(linker, component, NoHost())
                return bind(store, instance).add_numbers(1, "x")
            """
        )
    )
    result = run_mypy(tmp_path, "rich_stubs.py", "misuse.py")
    assert result.returncode == 1
    assert 'Argument 2 to "add_numbers" of "Exports" has incompatible type "str"' in result.stdout
    assert 'Incompatible return value type (got "int", expected "str")' in result.stdout
    assert 'Argument 3 to "define_imports" has incompatible type "NoHost"; expected "Imports"' in result.stdout


# The command line --------------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmjit.component", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_text_component_to_file(tmp_path: Path, rich_source: str) -> None:
    (tmp_path / "rich.wat").write_text(portable(RICH))
    done = _cli("stubs", "rich.wat", "-o", "out.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert (tmp_path / "out.py").read_text() == rich_source
    module = load((tmp_path / "out.py").read_text(), tmp_path)
    assert module.Point(1.0, 2.0).y_pos == 2.0


def test_cli_binary_component_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "rich.wasm").write_bytes(wasmtime.wat2wasm(portable(RICH)))
    done = _cli("stubs", "rich.wasm", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "class Exports(Protocol):" in done.stdout
    assert "of the component ``rich.wasm``" in done.stdout
    assert generate_from_path(str(tmp_path / "rich.wasm")) == done.stdout


def test_cli_errors(tmp_path: Path) -> None:
    done = _cli("stubs", "missing.wasm", cwd=tmp_path)
    assert done.returncode == 1 and "missing.wasm" in done.stderr
    (tmp_path / "core.wat").write_text("(module)")
    done = _cli("stubs", "core.wat", cwd=tmp_path)
    assert done.returncode == 1 and "core.wat" in done.stderr
    done = _cli(cwd=tmp_path)
    assert done.returncode == 2 and "stubs" in done.stderr
    done = _cli("stubs", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "-o" in done.stdout


# Naming ------------------------------------------------------------------------------------------------------

ANONYMOUS = r"""
(component
  (type $r0 (record (field "int" u32) (field "list" (list u8))))
  (import "r" (type $r (eq $r0)))
  (type $v0 (variant (case "none") (case "some" u32)))
  (import "v" (type $v (eq $v0)))
  (type $w0 (variant (case "some" string) (case "other")))
  (import "w" (type $w (eq $w0)))
  (type $e0 (enum "a" "b"))
  (import "e" (type $e (eq $e0)))
  (type $q0 (record (field "a" u32)))
  (import "q" (type $q (eq $q0)))
  (core module $m
    (memory (export "memory") 1)
    (func (export "f") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "g") (param i32 i32 i32 i32 i32 i32) unreachable)
    (func (export "h") (param i32 i32) (result i32) unreachable)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) unreachable))
  (core instance $mi (instantiate $m))
  (func $f (param "the-rec" $r) (param "self" u8) (result $v)
    (canon lift (core func $mi "f") (memory (core memory $mi "memory")) (realloc (core func $mi "realloc"))))
  (func $g (param "w" $w) (param "o" (option (option u8)))
    (canon lift (core func $mi "g") (memory (core memory $mi "memory")) (realloc (core func $mi "realloc"))))
  (func $h (param "x" $e) (param "y" $q) (result (result (tuple $e $q)))
    (canon lift (core func $mi "h") (memory (core memory $mi "memory")) (realloc (core func $mi "realloc"))))
  (func $h2 (param "x" $e) (param "y" $q) (result (result (tuple $e $q)))
    (canon lift (core func $mi "h") (memory (core memory $mi "memory")) (realloc (core func $mi "realloc"))))
  (export "make-thing" (func $f))
  (export "list" (func $g))
  (export "pair-up" (func $h))
  (instance $i (export "pair-up" (func $h2)))
  (instance $j (export "pair-up" (func $h)))
  (export "ns:other/pairs" (instance $i))
  (export "ns:third/pairs@0.1.0" (instance $j)))
"""


@pytest.fixture(scope="module")
def anonymous(engine: wasmtime.Engine) -> tuple[wc.Component, str]:
    component = wc.Component(engine, portable(ANONYMOUS))
    return component, generate(component, engine)


def test_anonymous_types_are_named_where_found(anonymous: tuple[wc.Component, str]) -> None:
    _, src = anonymous
    assert "class MakeThingTheRec:" in src  # <Function><Param>
    assert "MakeThingResult: TypeAlias = Union[MakeThingResultCases.NONE, MakeThingResultCases.Some]" in src
    assert "class PairUpX(enum.Enum):" in src and "class PairUpY:" in src
    assert "def pair_up(self, x: PairUpX, y: PairUpY, /) -> Ok[tuple[PairUpX, PairUpY]] | Err[None]:" in src


def test_identical_types_and_interfaces_are_shared(anonymous: tuple[wc.Component, str]) -> None:
    _, src = anonymous
    assert src.count("(enum.Enum):") == 1 and src.count("class PairUpY") == 1
    assert src.count("class Pairs(Protocol):") == 1 and "class Pairs2" not in src
    # Two interfaces named "pairs": each attribute takes the full name.
    assert 'ns_other_pairs: Annotated[Pairs, "ns:other/pairs"]' in src
    assert 'ns_third_pairs: Annotated[Pairs, "ns:third/pairs@0.1.0"]' in src


def test_case_classes_that_would_clash_sit_in_a_namespace(anonymous: tuple[wc.Component, str], tmp_path: Path) -> None:
    _, src = anonymous
    assert "class MakeThingResultCases:" in src and "class ListWCases:" in src
    assert "    class NONE:" in src  # "none" -> None is a keyword: NONE (matched case-insensitively)
    module = load(src, tmp_path)
    assert module.MakeThingResultCases.NONE.__name__ == "NONE"
    assert module.ListWCases.Some(value="x").value == "x"


def test_shadowing_member_names(anonymous: tuple[wc.Component, str]) -> None:
    _, src = anonymous
    # The record's field "int" shadows the builtin inside the class body.
    assert "    int: builtins.int\n    list: bytes\n" in src
    assert "import builtins" in src
    # A method named "list" in Exports: WIT parameter "self" is renamed.
    assert "def make_thing(self, the_rec: MakeThingTheRec, self_: int, /) -> MakeThingResult:" in src
    assert "def list(self, w: ListW, o: Some[int | None] | None, /) -> None:" in src


def test_anonymous_stub_binds_and_type_checks(
    engine: wasmtime.Engine, anonymous: tuple[wc.Component, str], tmp_path: Path
) -> None:
    component, src = anonymous
    module = load(src, tmp_path, "anonymous_stubs")
    store = wasmtime.Store(engine)
    instance = wc.Linker(engine).instantiate(store, component)
    exports = bind(store, instance, module.Exports, component=component)
    assert set(dir(exports)) == {"make_thing", "list", "pair_up", "ns_other_pairs", "ns_third_pairs"}
    assert set(dir(bind(store, instance, module.Exports))) == set(dir(exports))
    result = run_mypy(tmp_path, "anonymous_stubs.py")
    assert result.returncode == 0, result.stdout + result.stderr


# Random WIT types (tests/component_gen.py) -------------------------------------------------------------------


def _case(t: VariantT | OptionT | ResultT, value: Any) -> tuple[int, Any]:
    """Which case a stock value of ``t`` is, and its payload."""
    cases = cases_of(t)
    if stock_tagged(t):
        index = [name for name, _ in cases].index(value.tag)
        return index, value.payload
    for i, (_, c) in enumerate(cases):  # stock's untagged rule: the first case that takes the value
        if (c is None and value is None) or (c is not None and isinstance(value, tuple(stock_classes(c)))):
            return i, value
    raise AssertionError(f"no case of {t} for {value!r}")


def convert(t: Type, shape: Shape, value: Any) -> Any:
    """A stock-shaped value of ``t`` in the classes ``shape`` names (the stub's)."""
    if isinstance(t, Prim):
        return value
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return value
        return [convert(t.element, shape.child(0), v) for v in value]
    if isinstance(t, TupleT):
        return tuple(convert(e, shape.child(i), v) for i, (e, v) in enumerate(zip(t.elements, value, strict=True)))
    if isinstance(t, RecordT):
        return shape.py(*(convert(ft, shape.child(i), getattr(value, n)) for i, (n, ft) in enumerate(t.fields)))
    if isinstance(t, EnumT):
        return shape.py_members[t.names.index(value)]
    if isinstance(t, FlagsT):
        members = [shape.py_members[t.names.index(n)] for n in value]
        return functools.reduce(operator.or_, members, shape.py(0))
    index, payload = _case(t, value)
    inner = cases_of(t)[index][1]
    converted = None if inner is None else convert(inner, shape.child(index), payload)
    if isinstance(t, OptionT):
        if index == 0:
            return None
        return Some(converted) if shape.nested else converted
    if isinstance(t, ResultT):
        return Ok(converted) if index == 0 else Err(converted)
    cls = shape.py[index]
    return cls() if inner is None else cls(converted)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same Python types (NaN equals NaN, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def host_from_protocol(module: types.ModuleType, reply: Any) -> Any:
    """A host object whose ``f`` carries ``Imports.f``'s annotations and answers with ``reply(args)``."""
    sig = inspect.signature(module.Imports.f)
    params = list(sig.parameters.values())[1:]
    names = [p.name for p in params]
    header = ", ".join(f"{p.name}: {p.annotation}" for p in params)
    source = (
        f"def f({header}) -> {sig.return_annotation}:\n    return _reply(({', '.join(names)}{',' if names else ''}))"
    )
    namespace = dict(vars(module), _reply=reply)
    exec(source, namespace)
    return types.SimpleNamespace(f=namespace["f"])


@pytest.fixture(scope="module")
def random_stubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[tuple[Any, str]]]]:
    import component_gen

    directory = tmp_path_factory.mktemp("random_stubs")
    out = []
    for seed in RANDOM_SEEDS:
        case = make_case(seed)
        component = component_gen.compile_component(case.text)
        out.append((case, generate(component, component_gen.engine(), name=f"seed {seed}")))
    yield directory, out


@pytest.mark.parametrize("backend_name", ["bytecode", "source", "reflect"])
def test_random_types_round_trip_through_stub_classes(
    random_stubs: tuple[Path, list[tuple[Any, str]]], backend_name: str
) -> None:
    import component_gen

    directory, cases = random_stubs
    engine = component_gen.engine()
    failures = []
    for case, src in cases:
        module = load(src, directory, f"seed_{case.seed}_{backend_name}")
        component = component_gen.compile_component(case.text)
        func_type = witm.FuncType(
            tuple((n, _wit_of(t)) for n, t in case.ft.params),
            None if case.ft.result is None else _wit_of(case.ft.result),
        )
        shapes, result_shape = signature_shapes(func_type, module.Exports.run, "Exports.run")
        seen: list[tuple[Any, ...]] = []
        replies: list[Any] = []

        def reply(args: tuple[Any, ...], seen: list[Any] = seen, replies: list[Any] = replies) -> Any:
            seen.append(args)
            return replies[-1]

        store = wasmtime.Store(engine)
        linker = wc.Linker(engine)
        define_imports(linker, component, host_from_protocol(module, reply), module.Imports, backend=backend_name)
        exports = bind(store, linker.instantiate(store, component), module.Exports, backend=backend_name)
        for args, result in case.calls:
            args_py = tuple(convert(t, s, v) for (_, t), s, v in zip(case.ft.params, shapes, args, strict=True))
            result_py = None if case.ft.result is None else convert(case.ft.result, result_shape, result)
            replies.append(result_py)
            got = exports.run(*args_py)
            if not same(seen[-1], args_py) or not same(got, result_py):
                failures.append(f"{case.describe()}\nsent {args_py!r}\nhost saw {seen[-1]!r}\ngot {got!r}")
                break
    assert not failures, "\n\n".join(failures[:3])


def test_random_stubs_pass_mypy_strict(random_stubs: tuple[Path, list[tuple[Any, str]]]) -> None:
    directory, cases = random_stubs
    files = []
    for case, src in cases[:20]:
        name = f"mypy_seed_{case.seed}.py"
        (directory / name).write_text(src)
        files.append(name)
    result = run_mypy(directory, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_random_stub_names_types_after_exports(random_stubs: tuple[Path, list[tuple[Any, str]]]) -> None:
    """component_gen exports its named types as ``tN-out``: classes are named after them."""
    _, cases = random_stubs
    for case, src in cases:
        if "flags t0" in wit(case.ft).split("\n")[0] or "record t0" in wit(case.ft).split("\n")[0]:
            assert "class T0Out" in src, case.describe()


def _wit_of(t: Type) -> witm.WitType:
    """component_gen's type as wasmjit's WIT tree."""
    if isinstance(t, Prim):
        return witm.String() if t.name == "string" else witm.Prim(t.name)
    if isinstance(t, ListT):
        return witm.List(_wit_of(t.element))
    if isinstance(t, RecordT):
        return witm.Record(tuple((n, _wit_of(ft)) for n, ft in t.fields))
    if isinstance(t, TupleT):
        return witm.Tuple_(tuple(_wit_of(e) for e in t.elements))
    if isinstance(t, VariantT):
        return witm.Variant(tuple((n, None if c is None else _wit_of(c)) for n, c in t.cases))
    if isinstance(t, EnumT):
        return witm.Enum(t.names)
    if isinstance(t, FlagsT):
        return witm.Flags(t.names)
    if isinstance(t, OptionT):
        return witm.Option(_wit_of(t.payload))
    assert isinstance(t, ResultT)
    return witm.Result(None if t.ok is None else _wit_of(t.ok), None if t.err is None else _wit_of(t.err))


RESOURCES = r"""
(component
  (type $r (resource (rep i32)))
  (core func $new (canon resource.new $r))
  (core func $rep (canon resource.rep $r))
  (core module $m
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "rep" (func $rep (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "make") (param i32) (result i32)
      (i32.store (i32.const 16) (call $new (local.get 0)))
      (i32.store (i32.const 20) (local.get 0))
      (i32.const 16))
    (func (export "ctor") (param i32) (result i32) (call $new (local.get 0)))
    (func (export "get") (param i32) (result i32) (local.get 0)))
  (core instance $mi (instantiate $m (with "" (instance (export "new" (func $new)) (export "rep" (func $rep))))))
  (export $ro "r" (type $r))
  (type $h0 (record (field "res" (own $ro)) (field "n" u32)))
  (export $h "holder" (type $h0))
  (func $make (param "n" u32) (result $h) (canon lift (core func $mi "make") (memory (core memory $mi "memory"))))
  (func $ctor (param "n" u32) (result (own $ro)) (canon lift (core func $mi "ctor")))
  (func $get (param "self" (borrow $ro)) (result u32) (canon lift (core func $mi "get")))
  (export "make" (func $make))
  (export "[constructor]r" (func $ctor))
  (export "[method]r.get" (func $get)))
"""


def test_functions_over_resources_keep_stock_shapes(engine: wasmtime.Engine, tmp_path: Path) -> None:
    component = wc.Component(engine, portable(RESOURCES))
    src = generate(component, engine)
    assert "def make(self, n: int, /) -> Any:" in src
    assert "class Holder" not in src  # a record holding a resource has wasmtime-py's shape
    # Resource functions: names snake_case loses are kept with @wit_name.
    assert '    @wit_name("[constructor]r")\n    def r_new(self, n: int, /) -> Any:' in src
    assert '    @wit_name("[method]r.get")\n    def r_get(self, self_: Any, /) -> int:' in src
    module = load(src, tmp_path, "resource_stubs")
    store = wasmtime.Store(engine)
    instance = wc.Linker(engine).instantiate(store, component)
    for exports in (module.bind(store, instance), module.bind(store, instance, component=component)):
        holder = exports.make(7)
        assert isinstance(holder, wc.Record) and holder.n == 7
        assert isinstance(holder.res, wc.ResourceAny)
        assert exports.r_get(exports.r_new(41)) == 41
    result = run_mypy(tmp_path, "resource_stubs.py")
    assert result.returncode == 0, result.stdout + result.stderr
