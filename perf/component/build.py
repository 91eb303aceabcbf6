"""The component workloads' builders: stock, the hand-written floor and wasmjit, side by side.

Export calls (``component-<function>``)
    Python calls one export of :data:`perf.component.wat.EXPORTS` ``n`` times:
    stock is ``Func.__call__(store, *args)``; the floor is the hand-written
    binding of :mod:`perf.component.floors`; wasmjit is
    ``wasmjit.component.typed(store, func, signature=..., backend=...)``.
Host imports (``component-host-<function>``)
    One call of the component's ``run(n)`` export makes ``n`` calls of the
    imported host function from a core loop (time per host call): stock
    registers it with ``LinkerInstance.add_func``; the floor is a hand-written
    thunk; wasmjit is ``wasmjit.component.define_callback(root, name, fn)``.
Registration (``component-register-new``, ``component-register-cached``)
    ``wasmjit.component.typed`` of a function whose WIT signature this
    process has never seen (a new plan each time), and of one it has (the
    floor: building the hand-written ``add`` binding, type read included).

Values: with Python classes where the issue maps a WIT type to one, in the
floor and in wasmjit alike (the record as the dataclass :class:`Point`, the
enum as :class:`Color`, the flags as :class:`Perms`, ``option<u32>`` as
``Optional[int]``, ``result`` as ``Ok``/``Err``, the variant as a ``Union``
of the case classes :class:`Circle`, :class:`Square`, :class:`Empty`; the
floors use their own ``Ok``/``Err``, wasmjit its own).  Stock takes and
gives its own shapes (``Record``-like objects, ``str``, ``set``, bare
``int``/``str`` for the result), so every check compares after
:func:`stock_shape`.  Every build checks that each variant computes what
stock computes before anything is timed.

Until ``wasmjit.component`` imports, the wasmjit variants are left out with a
note (the report shows ``n/a``) and stock and the floor still run.  A wasmjit
backend that fails to bind a function, or computes something else than stock,
is left out of that workload with a note naming the error (the run goes on);
a floor or stock that fails is a bug in this suite, and stops the run.
"""

from __future__ import annotations

import enum
import importlib
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import wasmtime
import wasmtime.component as wc

from ..loops import batch, loop
from ..measure import Runner
from ..variants import backends as core_backends
from . import floors, wat

__all__ = [
    "Point",
    "Color",
    "Perms",
    "Circle",
    "Square",
    "Empty",
    "SHAPE_CASES",
    "backends",
    "wasmjit_component",
    "stock_shape",
    "EXPORT_CASES",
    "HOST_CASES",
    "build_export",
    "build_host",
    "build_register_new",
    "build_register_cached",
    "LIST_LENGTH",
]

MISSING_NOTE = "wasmjit.component is not importable yet ({}): its rows are n/a"


def wasmjit_component(notes: Optional[List[str]] = None) -> Any:
    """``wasmjit.component``, or ``None`` (with a note) while it does not import."""
    try:
        return importlib.import_module("wasmjit.component")
    except ImportError as exc:
        note = MISSING_NOTE.format(f"{type(exc).__name__}: {exc}")
        if notes is not None and note not in notes:
            notes.append(note)
        return None


def _left_out(notes: List[str], workload: str, backend: str, exc: BaseException) -> None:
    """Note a wasmjit variant that failed to build or to compute what stock computes (the run goes on)."""
    message = " ".join(str(exc).split())
    if len(message) > 120:
        message = message[:117] + "..."
    notes.append(f"{workload}: wasmjit {backend} failed, left out: {type(exc).__name__}: {message}")


def backends(notes: List[str]) -> Tuple[str, ...]:
    """The wasmjit backends the component workloads can use here: none until ``wasmjit.component`` imports."""
    if wasmjit_component(notes) is None:
        return ()
    return core_backends(notes)


# The Python classes ---------------------------------------------------------------------


@dataclass
class Point:
    """The ``point`` record."""

    x: float
    y: float


class Color(enum.Enum):
    """The ``color`` enum: member names (and values) are the case names."""

    red = "red"
    green = "green"
    blue = "blue"


class Perms(enum.Flag):
    """The ``perms`` flags: member names are the flag names."""

    read = enum.auto()
    write = enum.auto()
    exec = enum.auto()


@dataclass
class Circle:
    """The ``circle`` case of the ``shape`` variant."""

    value: float


@dataclass
class Square:
    """The ``square`` case of the ``shape`` variant."""

    value: float


@dataclass
class Empty:
    """The ``empty`` case of the ``shape`` variant (no payload)."""


#: The ``shape`` variant: WIT case -> class.
SHAPE_CASES: Dict[str, type] = {"circle": Circle, "square": Square, "empty": Empty}
Shape = Union[Circle, Square, Empty]


def stock_shape(value: Any) -> Any:
    """A typed value as stock gives it: enum -> case name, flags -> set of names, Ok/Err -> the payload,
    a case class -> ``Variant``."""
    if isinstance(value, (Circle, Square, Empty)):
        return wc.Variant(type(value).__name__.lower(), getattr(value, "value", None))
    if isinstance(value, Color):
        return value.value
    if isinstance(value, Perms):
        return {member.name for member in Perms if member in value}
    if type(value).__name__ in ("Ok", "Err") and hasattr(value, "value"):
        return value.value
    if isinstance(value, float):
        return round(value, 9)
    return value


def _kinds(wc_module: Any) -> Tuple[Any, Any]:
    """``(Ok, Err)``: wasmjit's when it imports, the floors' otherwise (for the floors' own use)."""
    if wc_module is None:
        return floors.Ok, floors.Err
    return wc_module.Ok, wc_module.Err


# Export calls -------------------------------------------------------------------------------

#: Elements of the list workloads.
LIST_LENGTH = 1000
_LIST = list(range(LIST_LENGTH))


@dataclass(frozen=True)
class ExportCase:
    """One export: its floor, the arguments each variant passes, and wasmjit's ``signature=``."""

    export: str
    floor: Callable[[wasmtime.Store, wc.Func], Callable[..., Any]]
    #: ``stock_args``, then ``typed_args(Ok, Err)`` for the floor (floors' classes) and wasmjit (its own).
    stock_args: Tuple[Any, ...]
    typed_args: Callable[[Any, Any], Tuple[Any, ...]]
    #: ``signature(Ok, Err)``: a function whose annotations wasmjit reads (None: typed without one).
    signature: Optional[Callable[[Any, Any], Callable[..., Any]]] = None
    #: More ``(stock_args, typed_args)`` checked once at build: the paths the timed call does not take.
    checks: Tuple[Tuple[Tuple[Any, ...], Callable[[Any, Any], Tuple[Any, ...]]], ...] = ()


def _sig_add(ok: Any, err: Any) -> Callable[..., Any]:
    def add(a: int, b: int) -> int:
        raise NotImplementedError  # only its annotations are read

    return add


def _sig_norm(ok: Any, err: Any) -> Callable[..., Any]:
    def norm(p: Point) -> float:
        raise NotImplementedError  # only its annotations are read

    return norm


def _sig_option(ok: Any, err: Any) -> Callable[..., Any]:
    def bump_option(x: Optional[int]) -> Optional[int]:
        raise NotImplementedError  # only its annotations are read

    return bump_option


def _sig_result(ok: Any, err: Any) -> Callable[..., Any]:
    def bump_result(x: Any) -> Any:
        raise NotImplementedError  # only its annotations are read

    either = Union[ok, err]
    bump_result.__annotations__ = {"x": either, "return": either}
    return bump_result


def _sig_enum(ok: Any, err: Any) -> Callable[..., Any]:
    def next_color(c: Color) -> Color:
        raise NotImplementedError  # only its annotations are read

    return next_color


def _sig_flags(ok: Any, err: Any) -> Callable[..., Any]:
    def invert(p: Perms) -> Perms:
        raise NotImplementedError  # only its annotations are read

    return invert


def _sig_variant(ok: Any, err: Any) -> Callable[..., Any]:
    def grow(s: Shape) -> Shape:
        raise NotImplementedError  # only its annotations are read

    return grow


def _plain(*args: Any) -> Callable[[Any, Any], Tuple[Any, ...]]:
    return lambda ok, err: args


#: Empty, the largest u32, and twice the timed length (the floor grows its element slots).
_LIST_CHECKS: Tuple[Tuple[Tuple[Any, ...], Callable[[Any, Any], Tuple[Any, ...]]], ...] = (
    (([],), _plain([])),
    (([2**32 - 1, 1],), _plain([2**32 - 1, 1])),
    ((_LIST * 2,), _plain(_LIST * 2)),
)


class _StockPoint:
    """What stock lowers a record from: any object with the fields as attributes."""

    x = 3.0
    y = 4.0


EXPORT_CASES: Dict[str, ExportCase] = {
    "add": ExportCase(
        "add", floors.call_add, (3, 4), _plain(3, 4), _sig_add, (((2**32 - 1, 1), _plain(2**32 - 1, 1)),)
    ),
    "nop": ExportCase("nop", floors.call_nop, (), _plain()),
    "greet": ExportCase(
        "greet",
        floors.call_greet,
        ("world",),
        _plain("world"),
        checks=((("",), _plain("")), (("ünï ✓",), _plain("ünï ✓"))),
    ),
    "norm": ExportCase(
        "norm",
        floors.call_norm,
        (_StockPoint(),),
        _plain(Point(3.0, 4.0)),
        _sig_norm,
    ),
    "option": ExportCase("bump-option", floors.call_option, (41,), _plain(41), _sig_option, (((None,), _plain(None)),)),
    "result": ExportCase(
        "bump-result",
        floors.call_result,
        (41,),
        lambda ok, err: (ok(41),),
        _sig_result,
        ((("bad ✗",), lambda ok, err: (err("bad ✗"),)),),
    ),
    "enum": ExportCase(
        "next-color",
        lambda store, func: floors.call_enum(store, func, Color),
        ("green",),
        _plain(Color.green),
        _sig_enum,
        ((("blue",), _plain(Color.blue)),),
    ),
    "flags": ExportCase(
        "invert",
        lambda store, func: floors.call_flags(store, func, Perms),
        ({"read"},),
        _plain(Perms.read),
        _sig_flags,
        (((set(),), _plain(Perms(0))), (({"read", "exec"},), _plain(Perms.read | Perms.exec))),
    ),
    "variant": ExportCase(
        "grow",
        lambda store, func: floors.call_variant(store, func, SHAPE_CASES),
        (wc.Variant("circle", 1.5),),
        _plain(Circle(1.5)),
        _sig_variant,
        (((wc.Variant("empty"),), _plain(Empty())), ((wc.Variant("square", 2.0),), _plain(Square(2.0)))),
    ),
    "sum": ExportCase("sum", floors.call_sum, (_LIST,), _plain(_LIST), checks=_LIST_CHECKS),
    "echo": ExportCase("echo", floors.call_echo, (_LIST,), _plain(_LIST), checks=_LIST_CHECKS),
}


def _exports_instance(engine: Optional[wasmtime.Engine] = None) -> Tuple[wasmtime.Store, wc.Instance]:
    engine = engine or wasmtime.Engine()
    store = wasmtime.Store(engine)
    component = wc.Component(engine, wat.EXPORTS)
    return store, wc.Linker(engine).instantiate(store, component)


def _export_func(store: wasmtime.Store, instance: wc.Instance, name: str) -> wc.Func:
    func = instance.get_func(store, name)
    assert func is not None, name
    return func


def _same(got: Any, expected: Any) -> bool:
    return bool(stock_shape(got) == stock_shape(expected))


def build_export(key: str) -> Callable[[List[str]], Dict[str, Runner]]:
    """The builder of ``component-<key>``: a Python loop calling the export, per variant."""
    case = EXPORT_CASES[key]

    def build(notes: List[str]) -> Dict[str, Runner]:
        store, instance = _exports_instance()
        func = _export_func(store, instance, case.export)
        runners: Dict[str, Runner] = {"stock": loop(func, store, *case.stock_args)}
        callables: Dict[str, Tuple[Callable[..., Any], Tuple[Any, ...]]] = {
            "floor": (case.floor(store, func), case.typed_args(floors.Ok, floors.Err)),
        }
        module = wasmjit_component(notes)
        ok, err = _kinds(module)
        signature = case.signature(ok, err) if case.signature else None
        checks = [(case.stock_args, case.typed_args), *case.checks, (case.stock_args, case.typed_args)]

        def check(name: str, f: Callable[..., Any], ok: Any, err: Any) -> None:
            for stock_args, typed_args in checks:  # the timed call last: it reuses what the others left behind
                want, got = func(store, *stock_args), f(*typed_args(ok, err))
                assert _same(got, want), f"{name} returned {got!r}, stock {want!r}"

        check("floor", callables["floor"][0], floors.Ok, floors.Err)  # a floor that fails is a bug here: fatal
        for backend in backends(notes):
            try:
                if signature is None:
                    typed = module.typed(store, func, backend=backend)
                else:
                    typed = module.typed(store, func, signature=signature, backend=backend)
                check(backend, typed, ok, err)
            except Exception as exc:
                _left_out(notes, f"component-{key}", backend, exc)
                continue
            callables[backend] = (typed, case.typed_args(ok, err))
        for name, (f, args) in callables.items():
            runners[name] = loop(f, *args)
        return runners

    return build


# Host imports ---------------------------------------------------------------------------------


def _stock_bump_result(store: Any, x: Any) -> Any:
    return x + 1 if isinstance(x, int) else x


def _stock_grow(store: Any, v: wc.Variant) -> wc.Variant:
    return v if v.payload is None else wc.Variant(v.tag, v.payload * 2)


_NEXT = {"red": "green", "green": "blue", "blue": "red"}
_NEXT_COLOR = {Color.red: Color.green, Color.green: Color.blue, Color.blue: Color.red}
_ALL = {"read", "write", "exec"}


def add(a: int, b: int) -> int:
    return a + b


def nop() -> None:
    pass


def greet(name: str) -> str:
    return wat.GREETING + name


def norm(p: Point) -> float:
    return math.sqrt(p.x * p.x + p.y * p.y)


def bump_option(x: Optional[int]) -> Optional[int]:
    return None if x is None else x + 1


def next_color(c: Color) -> Color:
    return _NEXT_COLOR[c]


def invert(p: Perms) -> Perms:
    return ~p


def grow(s: Shape) -> Shape:
    return s if isinstance(s, Empty) else type(s)(s.value * 2)


def _bump_result(ok: Any, err: Any) -> Callable[..., Any]:
    def bump_result(x: Any) -> Any:
        return ok(x.value + 1) if type(x) is ok else x

    either = Union[ok, err]
    bump_result.__annotations__ = {"x": either, "return": either}
    return bump_result


@dataclass(frozen=True)
class HostCase:
    """One imported host function: stock's function (store first), the typed one, its floor."""

    import_name: str
    stock: Callable[..., Any]
    #: ``typed(Ok, Err)``: the function the floor and wasmjit register (no store argument).
    typed: Callable[[Any, Any], Callable[..., Any]]
    floor: Callable[[wc.LinkerInstance, str, Callable[..., Any]], None]


def _same_fn(fn: Callable[..., Any]) -> Callable[[Any, Any], Callable[..., Any]]:
    return lambda ok, err: fn


HOST_CASES: Dict[str, HostCase] = {
    "add": HostCase("add", lambda store, a, b: a + b, _same_fn(add), floors.host_add),
    "nop": HostCase("nop", lambda store: None, _same_fn(nop), floors.host_nop),
    "greet": HostCase("greet", lambda store, name: wat.GREETING + name, _same_fn(greet), floors.host_greet),
    "norm": HostCase(
        "norm",
        lambda store, p: math.sqrt(p.x * p.x + p.y * p.y),
        _same_fn(norm),
        lambda root, name, fn: floors.host_norm(root, name, fn, Point),
    ),
    "option": HostCase(
        "bump-option", lambda store, x: None if x is None else x + 1, _same_fn(bump_option), floors.host_option
    ),
    "result": HostCase("bump-result", _stock_bump_result, _bump_result, floors.host_result),
    "enum": HostCase(
        "next-color",
        lambda store, c: _NEXT[c],
        _same_fn(next_color),
        lambda root, name, fn: floors.host_enum(root, name, fn, Color),
    ),
    "flags": HostCase(
        "invert",
        lambda store, p: _ALL - p,
        _same_fn(invert),
        lambda root, name, fn: floors.host_flags(root, name, fn, Perms),
    ),
    "variant": HostCase(
        "grow",
        _stock_grow,
        _same_fn(grow),
        lambda root, name, fn: floors.host_variant(root, name, fn, SHAPE_CASES),
    ),
}


def _host_run(
    engine: wasmtime.Engine, component: wc.Component, define: Callable[[wc.LinkerInstance], None]
) -> Tuple[wasmtime.Store, wc.Func, wc.Linker]:
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    with linker.root() as root:
        define(root)
    instance = linker.instantiate(store, component)
    run = instance.get_func(store, "run")
    assert run is not None
    return store, run, linker


def build_host(key: str) -> Callable[[List[str]], Dict[str, Runner]]:
    """The builder of ``component-host-<key>``: one ``run(n)`` call making ``n`` host calls, per variant."""
    case = HOST_CASES[key]
    name = case.import_name

    def build(notes: List[str]) -> Dict[str, Runner]:
        engine = wasmtime.Engine()
        component = wc.Component(engine, wat.importing(name))
        definers: Dict[str, Callable[..., None]] = {
            "stock": lambda root: root.add_func(name, case.stock),
            "floor": lambda root: case.floor(root, name, case.typed(floors.Ok, floors.Err)),
        }
        module = wasmjit_component(notes)
        for backend in backends(notes):
            fn = case.typed(*_kinds(module))

            def define(root: wc.LinkerInstance, fn: Callable[..., Any] = fn, backend: str = backend) -> None:
                module.define_callback(root, name, fn, backend=backend)

            definers[backend] = define
        runners: Dict[str, Runner] = {}
        expected = None
        for variant, define in definers.items():
            try:
                store, run, linker = _host_run(engine, component, define)
                got = run(store, 3)  # every variant must compute the same checksum
                if expected is None:
                    expected = got
                assert got == expected, f"{variant} computed {got!r}, stock {expected!r}"
            except Exception as exc:
                if variant in ("stock", "floor"):  # a bug here: fatal
                    raise
                _left_out(notes, f"component-host-{key}", variant, exc)
                continue
            runners[variant] = _run_runner(store, run, linker)
        return runners

    return build


def _run_runner(store: wasmtime.Store, run: wc.Func, linker: wc.Linker) -> Runner:
    """A runner timing one ``run(n)`` call, made through the floor's raw caller (its cost spread over ``n``)."""
    drive = floors.call_run(store, run)

    def go(n: int, drive: Callable[[int], int] = drive, keep: Any = (store, linker)) -> None:
        drive(n)

    return batch(go)


# Registration ---------------------------------------------------------------------------------

#: Parameter types of the never-seen signatures (each a new combination of five).
_PRIMITIVES = ("bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char")
_CORE = {"s64": "i64", "u64": "i64", "f32": "f32", "f64": "f64"}


def _signatures() -> Iterator[Tuple[str, ...]]:
    yield from itertools.product(_PRIMITIVES, repeat=5)


#: Shared by every variant, so no signature is handed out twice in a process.
_NEW: Iterator[Tuple[str, ...]] = _signatures()


def fresh_component(n: int) -> str:
    """A component exporting ``f0``..``f<n-1>``, each of a WIT signature never handed out before:
    five primitive parameters, a string and an ``option<u32>``; the result ``tuple<u32, f64>``."""
    core, lifts = [], []
    for i in range(n):
        params = next(_NEW)
        flat = " ".join(_CORE.get(p, "i32") for p in params)
        core.append(f'(func (export "f{i}") (param {flat} i32 i32 i32 i32) (result i32) (i32.const 32))')
        wit = " ".join(f'(param "a{j}" {p})' for j, p in enumerate(params))
        lifts.append(
            f'(func (export "f{i}") {wit} (param "s" string) (param "o" (option u32)) (result (tuple u32 f64))'
            f' (canon lift (core func $i "f{i}") (memory (core memory $i "memory"))'
            f' (realloc (core func $i "cabi_realloc"))))'
        )
    body = "\n    ".join(core)
    return f"""(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    {body})
  (core instance $i (instantiate $m))
  {" ".join(lifts)}
)"""


def build_register_new(notes: List[str]) -> Dict[str, Runner]:
    """``wasmjit.component.typed`` of functions of never-seen WIT signatures (compiling them is setup)."""
    engine = wasmtime.Engine()
    module = wasmjit_component(notes)
    runners: Dict[str, Runner] = {}
    for backend in backends(notes):
        try:  # one function of a fresh signature first: a backend that cannot bind it is left out
            store = wasmtime.Store(engine)
            instance = wc.Linker(engine).instantiate(store, wc.Component(engine, fresh_component(1)))
            module.typed(store, _export_func(store, instance, "f0"), backend=backend)
        except Exception as exc:
            _left_out(notes, "component-register-new", backend, exc)
            continue

        def runner(n: int, backend: str = backend) -> float:
            store = wasmtime.Store(engine)
            instance = wc.Linker(engine).instantiate(store, wc.Component(engine, fresh_component(n)))
            funcs = [_export_func(store, instance, f"f{i}") for i in range(n)]
            typed = module.typed
            start = time.perf_counter_ns()
            for func in funcs:
                typed(store, func, backend=backend)
            return time.perf_counter_ns() - start

        runners[backend] = runner
    return runners


def build_register_cached(notes: List[str]) -> Dict[str, Runner]:
    """``wasmjit.component.typed`` of ``add`` again (its signature is known); the floor builds its binding."""
    store, instance = _exports_instance()
    func = _export_func(store, instance, "add")
    module = wasmjit_component(notes)
    makers: Dict[str, Callable[[], Any]] = {"floor": lambda: floors.call_add(store, func)}
    assert makers["floor"]()(3, 4) == 7
    for backend in backends(notes):

        def make(backend: str = backend) -> Any:
            return module.typed(store, func, signature=_sig_add(None, None), backend=backend)

        try:
            assert make()(3, 4) == 7  # and now the signature is known
        except Exception as exc:
            _left_out(notes, "component-register-cached", backend, exc)
            continue
        makers[backend] = make
    return {name: loop(make) for name, make in makers.items()}
