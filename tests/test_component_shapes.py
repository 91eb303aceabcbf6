"""wasmjit.component with the user's classes: typed calls and host functions, every backend.

Each test builds a real component that imports ``f`` and exports ``run`` of
the same WIT type, forwarding to ``f`` through the canonical ABI (lowered
into linear memory and lifted back: see ``tests/component_gen.py``).  The
host side is a ``define_callback`` with annotations, the call side a
``typed`` caller with ``signature=``: a value crosses the boundary twice, in
each direction, as the user's class.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Union

import pytest
import wasmtime
import wasmtime.component as wc_stock

import wasmjit
import wasmjit.component as wc
from tests.component_gen import (
    EnumT,
    FlagsT,
    FuncT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    VariantT,
    component_text,
)
from wasmjit.component import Err, Ok, ShapeError, Some

ENGINE = wasmtime.Engine()


def echo(
    ft: FuncT, host: Callable[..., Any], backend: Optional[str], signature: Any = None
) -> Tuple[Callable[..., Any], Any, wasmtime.Store]:
    """``run`` of an echo component whose import ``f`` is ``host`` (a wasmjit host function)."""
    component = wc_stock.Component(ENGINE, component_text(ft))
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    instance = linker.instantiate(store, component)
    func = instance.get_func(store, "run")
    assert func is not None
    return wc.typed(store, func, signature, backend=backend), func, store


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Size(NamedTuple):
    width: int
    height_px: int


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    DARK_BLUE = "dark-blue"


class Perm(enum.Flag):
    READ = enum.auto()
    WRITE = enum.auto()
    EXEC = enum.auto()


@dataclasses.dataclass(frozen=True)
class Circle:
    value: float


@dataclasses.dataclass(frozen=True)
class Square:
    value: Point


@dataclasses.dataclass(frozen=True)
class Empty:
    pass


@dataclasses.dataclass
class Wrong:
    x: float
    z: float


POINT = RecordT((("x", Prim("f64")), ("y", Prim("f64"))))
SIZE = RecordT((("width", Prim("u32")), ("height-px", Prim("u16"))))
COLOR = EnumT(("red", "green", "dark-blue"))
PERM = FlagsT(("read", "write", "exec"))
SHAPE = VariantT((("circle", Prim("f64")), ("square", POINT), ("empty", None)))


def test_record_as_dataclass_both_ways(backend: str) -> None:
    seen: List[Any] = []

    def host(p: Point) -> Point:
        seen.append(p)
        return Point(p.y, p.x)

    def sig(p: Point) -> Point: ...

    run, _, _ = echo(FuncT((("p", POINT),), POINT), host, backend, sig)
    assert run(Point(1.5, -2.0)) == Point(-2.0, 1.5)
    assert seen == [Point(1.5, -2.0)] and type(seen[0]) is Point


def test_record_as_namedtuple_with_kebab_fields(backend: str) -> None:
    def host(s: Size) -> Size:
        return Size(s.height_px, s.width)

    run, _, _ = echo(FuncT((("s", SIZE),), SIZE), host, backend, Callable[[Size], Size])
    assert run(Size(7, 9)) == Size(9, 7)
    with pytest.raises(OverflowError):
        run(Size(1, 70000))  # height-px is a u16


def test_enum_and_flags_as_user_classes(backend: str) -> None:
    def host(c: Color, p: Perm) -> Tuple[Color, Perm]:
        return c, p | Perm.EXEC

    ft = FuncT((("c", COLOR), ("p", PERM)), TupleT((COLOR, PERM)))
    run, _, _ = echo(ft, host, backend, Callable[[Color, Perm], Tuple[Color, Perm]])
    assert run(Color.DARK_BLUE, Perm.READ | Perm.WRITE) == (Color.DARK_BLUE, Perm.READ | Perm.WRITE | Perm.EXEC)
    assert run(Color.RED, Perm(0)) == (Color.RED, Perm.EXEC)
    with pytest.raises(TypeError):
        run("red", Perm.READ)  # an annotated enum takes its members only


def test_options_nested_options_and_results(backend: str) -> None:
    def host(a: Optional[int], b: Optional[Some[Optional[str]]]) -> Union[Ok[int], Err[str]]:
        if a is None:
            return Err("no a")
        return Ok(a + (0 if b is None or b.value is None else len(b.value)))

    ft = FuncT(
        (("a", OptionT(Prim("u32"))), ("b", OptionT(OptionT(Prim("string"))))),
        ResultT(Prim("u32"), Prim("string")),
    )
    sig = Callable[[Optional[int], Optional[Some[Optional[str]]]], Union[Ok[int], Err[str]]]
    run, _, _ = echo(ft, host, backend, sig)
    assert run(None, None) == Err("no a")
    assert run(1, None) == Ok(1)
    assert run(1, Some(None)) == Ok(1)
    assert run(1, Some("abc")) == Ok(4)


def test_variant_as_union_of_case_classes(backend: str) -> None:
    def host(s: Union[Circle, Square, Empty]) -> Union[Circle, Square, Empty]:
        if isinstance(s, Circle):
            return Circle(s.value * 2)
        if isinstance(s, Square):
            return Square(Point(s.value.y, s.value.x))
        return Empty()

    ann = Union[Circle, Square, Empty]
    run, _, _ = echo(FuncT((("s", SHAPE),), SHAPE), host, backend, Callable[[ann], ann])
    assert run(Circle(1.25)) == Circle(2.5)
    assert run(Square(Point(1.0, 2.0))) == Square(Point(2.0, 1.0))
    assert run(Empty()) == Empty()
    with pytest.raises(TypeError, match="Circle, Square, Empty"):
        run(Point(1.0, 2.0))


def test_lists_strings_bytes_and_chars(backend: str) -> None:
    ft = FuncT(
        (("a", ListT(Prim("string"))), ("b", ListT(Prim("u8"))), ("c", Prim("char")), ("d", ListT(Prim("s64")))),
        TupleT((ListT(Prim("string")), ListT(Prim("u8")), Prim("char"), ListT(Prim("s64")))),
    )

    def host(a: List[str], b: bytes, c: str, d: List[int]) -> Tuple[List[str], bytes, str, List[int]]:
        return a[::-1], b + b"!", c.upper(), [x * 2 for x in d]

    run, _, _ = echo(ft, host, backend)
    assert run(["é", "", "日本"], b"\x00\xff", "é", [-(2**62), 0, 3]) == (
        ["日本", "", "é"],
        b"\x00\xff!",
        "É",
        [-(2**63), 0, 6],
    )
    assert run([], bytearray(b"xy"), "z", []) == ([], b"xy!", "Z", [])  # any buffer for list<u8>
    with pytest.raises(OverflowError):
        run([], b"", "a", [2**63])
    with pytest.raises(TypeError):
        run([], b"", "ab", [])  # char is one character


def test_annotation_mismatch_is_reported_with_the_parameter(backend: str) -> None:
    component = wc_stock.Component(ENGINE, component_text(FuncT((("p", POINT),), None)))
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        wc.define_callback(root, "f", lambda p: None, backend=backend)
    store = wasmtime.Store(ENGINE)
    func = linker.instantiate(store, component).get_func(store, "run")

    def sig(p: Wrong) -> None: ...

    with pytest.raises(ShapeError, match=r"parameter 0 \(p\).*Wrong has fields x, z"):
        wc.typed(store, func, sig, backend=backend)
    with pytest.raises(TypeError, match=r"takes 2 parameters; the component function func\(p: record"):
        wc.typed(store, func, lambda a, b: None, backend=backend)


def test_host_annotation_mismatch_raises_from_the_call(backend: str) -> None:
    def host(p: Color) -> None:  # p is a record, not an enum
        raise AssertionError("never called")

    run, _, _ = echo(FuncT((("p", POINT),), None), host, backend)
    record = wc_stock.Record()
    record.x, record.y = 1.0, 2.0
    with pytest.raises(ShapeError, match=r"host function 'f'.*parameter 0 \(p\)"):
        run(record)


class Boom(Exception):
    pass


def test_host_exception_is_the_same_object_through_typed_and_stock_calls(backend: str) -> None:
    raised: List[BaseException] = []

    def host(a: int) -> int:
        raised.append(Boom("no"))
        raise raised[-1]

    run, _, _ = echo(FuncT((("a", Prim("u32")),), Prim("u32")), host, backend)
    with pytest.raises(Boom) as first:
        run(1)
    assert first.value is raised[-1]
    # A trap poisons the component instance: stock's call goes through a fresh one.
    _, func, store = echo(FuncT((("a", Prim("u32")),), Prim("u32")), host, backend)
    with pytest.raises(Boom) as second:
        func(store, 2)  # stock wasmtime-py's call re-raises it too
    assert second.value is raised[-1]
    assert run.__wasmjit__.backend == backend  # type: ignore[attr-defined]


def test_one_host_function_imported_under_two_types_is_respecialised(backend: str) -> None:
    calls: List[Any] = []

    def host(*args: Any) -> Any:
        calls.append(args)
        return args[0]

    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        hf = wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    runs = []
    for ft in (
        FuncT((("a", Prim("u32")),), Prim("u32")),
        FuncT((("a", Prim("string")),), Prim("string")),
        FuncT((("a", ListT(Prim("s32"))),), ListT(Prim("s32"))),
        FuncT((("a", ListT(Prim("u32"))),), ListT(Prim("u32"))),
    ):
        instance = linker.instantiate(store, wc_stock.Component(ENGINE, component_text(ft)))
        runs.append(wc.typed(store, instance.get_func(store, "run"), backend=backend))
    for _ in range(2):  # alternate: each call presents its own type
        assert runs[0](7) == 7
        assert runs[1]("seven") == "seven"
        assert runs[2]([-7]) == [-7]
        assert runs[3]([2**32 - 1]) == [2**32 - 1]  # same kinds at the top: list; not read as s32
        assert runs[0](8) == 8
    assert len(hf.trampolines) == 4
    text = wasmjit.explain(hf)
    assert "func(a: u32) -> u32" in text and "func(a: string) -> string" in text


def test_records_differing_only_in_field_names_are_told_apart(backend: str) -> None:
    calls: List[Any] = []

    def host(r: Any) -> None:
        calls.append(sorted(vars(r).items()))

    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        hf = wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    runs = []
    for fields in (("x", "y"), ("y", "x"), ("a", "b")):
        ft = FuncT((("r", RecordT(tuple((name, Prim("f64")) for name in fields))),), None)
        instance = linker.instantiate(store, wc_stock.Component(ENGINE, component_text(ft)))
        runs.append((fields, wc.typed(store, instance.get_func(store, "run"), backend=backend)))
    for fields, run in runs * 2:
        record = wc_stock.Record()
        for value, name in enumerate(fields):
            setattr(record, name, float(value))
        run(record)
        assert calls[-1] == sorted((name, float(value)) for value, name in enumerate(fields))
    assert len(hf.trampolines) == 3


def test_closed_store_and_wrong_arity(backend: str) -> None:
    run, _, store = echo(FuncT((("a", Prim("u32")), ("b", Prim("u32"))), Prim("u32")), lambda a, b: a + b, backend)
    assert run(2, 3) == 5
    with pytest.raises(TypeError):
        run(2)
    store.close()
    with pytest.raises(ValueError, match="closed"):
        run(2, 3)


def test_explain_lists_the_generated_trampoline(backend: str) -> None:
    run, _, _ = echo(FuncT((("p", POINT), ("n", Prim("u32"))), Prim("f64")), lambda p, n: p.x * n, backend)
    text = wasmjit.explain(run)
    assert text.startswith(f"typed call func(p: record {{ x: f64, y: f64 }}, n: u32) -> f64 -> {backend} backend")
    if backend != "reflect":
        # The record's fields are stored one by one into the arena; the number by the one struct call.
        assert "pack_params(MEMORY, args, K_0, 2, flat_at_0, K_1, n)" in text and "view_d[15] = p.x" in text


def test_a_host_function_reads_records_of_numbers_itself(backend: str) -> None:
    """A record of numbers reaches a host function without a codec call: its header is read with
    the numbers around it, its entries by one more unpack, each name compared (one item read for
    a one-byte name, a slice for a longer one); the value is the annotation's class."""
    seen: List[Any] = []

    def host(n: int, p: Point, s: Size) -> Point:
        seen.append((n, p, s))
        return Point(p.x + n, p.y * s.height_px)

    size = RecordT((("width", Prim("u16")), ("height-px", Prim("s64"))))
    ft = FuncT((("n", Prim("u32")), ("p", POINT), ("s", size)), POINT)
    component = wc_stock.Component(ENGINE, component_text(ft))
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        hf = wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    func = linker.instantiate(store, component).get_func(store, "run")
    run = wc.typed(store, func, Callable[[int, Point, Size], Point], backend=backend)
    assert run(3, Point(1.5, -2.0), Size(7, -(2**40))) == Point(4.5, 2.0**41)
    assert seen == [(3, Point(1.5, -2.0), Size(7, -(2**40)))]
    assert type(seen[0][2]) is Size
    text = wasmjit.explain(hf)
    if backend != "reflect":
        assert "kind_0, n, kind_1, count_1, entries_1, kind_2, count_2, entries_2 = unpack_params(MEMORY, args)" in text
        assert "if MEMORY[name_1_0] != NAME_1_0:" in text  # "x": one byte
        assert "if MEMORY[name_2_1 : name_2_1 + 9] != NAME_2_1:" in text  # "height-px"
        assert "s = make_2(field_2_0, field_2_1)" in text and "read_" not in text
        # Every kind is compared before a count or an address is trusted, every size and field
        # kind before a name's address is.
        order = [
            "if kind_0 != K_0:", "if kind_2 != K_2:", "if count_1 != 2:", "= unpack_fields_1(MEMORY, entries_1)",
            "if size_1_1 != 1:", "if kind_1_1 != K_1_1:", "if MEMORY[name_1_0]",
        ]  # fmt: skip
        assert [text.index(line) for line in order] == sorted(text.index(line) for line in order)


def test_the_typed_caller_keeps_what_it_points_to_alive(backend: str) -> None:
    run, func, _ = echo(FuncT((("s", Prim("string")),), Prim("string")), lambda s: s * 2, backend)
    del func
    gc.collect()
    assert run("ab") == "abab"


def test_parameter_names_never_shadow_what_the_trampoline_uses(backend: str) -> None:
    # WIT names that are also the names of the programs' locals, arguments, statics and bound values.
    names = ("keep", "context", "args", "type", "offset", "failed", "kind-0", "kind-red", "p1", "MEMORY", "result")
    params = tuple((name, Prim("u32") if i % 2 else Prim("string")) for i, name in enumerate(names))
    ft = FuncT(params, TupleT(tuple(t for _, t in params)))
    run, _, _ = echo(ft, lambda *values: tuple(values), backend)
    values = tuple(i if i % 2 else f"v{i}" for i in range(len(names)))
    assert run(*values) == values


def test_parameter_names_never_shadow_a_flat_records_locals(backend: str) -> None:
    # WIT names that are the names a host program gives a record of numbers' header and fields.
    names = ("count-0", "entries-0", "size-0-0", "name-0-1", "kind-1-0", "field-0-0", "make-0", "k-0-0")
    params = tuple(
        (name, RecordT((("x", Prim("u32")), ("yy", Prim("f64")))) if i % 2 == 0 else Prim("u32"))
        for i, name in enumerate(names)
    )
    ft = FuncT(params, TupleT(tuple(t for _, t in params)))
    run, _, _ = echo(ft, lambda *values: tuple(values), backend)
    values = []
    for i in range(len(names)):
        if i % 2 == 0:
            record = wc_stock.Record()
            record.x, record.yy = i, i / 2
            values.append(record)
        else:
            values.append(i)
    got = run(*values)
    assert [vars(v) if i % 2 == 0 else v for i, v in enumerate(got)] == [
        vars(v) if i % 2 == 0 else v for i, v in enumerate(values)
    ]


def test_the_statics_are_reserved_names() -> None:
    from wasmjit.boundary import component_calls
    from wasmjit.model.component_plan import _NUMBERED, RESERVED_NAMES, component_plan
    from wasmjit.model.plan import Direction
    from wasmjit.model.shapes import STOCK
    from wasmjit.model.wit import FuncType, Record, String
    from wasmjit.model.wit import Prim as WitPrim

    point = Record((("x", WitPrim("f64")), ("name", WitPrim("u8"))))
    func_type = FuncType((("a", WitPrim("u32")), ("b", String()), ("c", point)), WitPrim("u32"))
    for direction in Direction:
        plan = component_plan(direction, func_type, (STOCK, STOCK, STOCK), STOCK, "checked")
        assert plan.flat_records == (2,)
        names = set(component_calls.statics(plan)) | set(plan.bound)
        assert all(name in RESERVED_NAMES or _NUMBERED.match(name) for name in names), names


@pytest.mark.parametrize(
    "signature, message",
    [
        (Callable[[], int], r"takes 0 parameters; the component function func\(a: u32, b: u32\) -> u32 takes 2"),
        (Callable[[int, int], None], r"annotated -> None; the component function .* returns a value"),
        (Callable[[str, int], int], r"parameter 0 \(a\)"),
        (Callable[[int, int], bytes], r"result"),
    ],
)
def test_typed_checks_counts_results_and_primitives(signature: Any, message: str) -> None:
    _, func, store = echo(FuncT((("a", Prim("u32")), ("b", Prim("u32"))), Prim("u32")), lambda a, b: a + b, None)
    with pytest.raises(TypeError, match=message):
        wc.typed(store, func, signature)


def test_a_host_function_annotated_without_parameters_fails_at_its_first_call() -> None:
    def host() -> int:
        raise AssertionError("never called")

    run, _, _ = echo(FuncT((("a", Prim("u32")),), Prim("u32")), host, None)
    with pytest.raises(TypeError, match=r"takes 0 parameters"):
        run(1)


def test_install_keeps_stock_values_and_errors() -> None:
    ft = FuncT((("a", Prim("u32")), ("s", Prim("string"))), Prim("u32"))
    component = wc_stock.Component(ENGINE, component_text(ft))

    def run_with(installed: bool) -> List[Any]:
        if installed:
            wasmjit.install()
        try:
            linker = wc_stock.Linker(ENGINE)
            with linker.root() as root:
                root.add_func("f", lambda store, a, s: a + len(s))
            store = wasmtime.Store(ENGINE)
            func = linker.instantiate(store, component).get_func(store, "run")
            out: List[Any] = [func(store, 2, "abc"), func(store, 2**32 + 1, "")]  # stock wraps silently
            for args in ((1,), ("x", "y"), (1, 2)):
                try:
                    func(store, *args)
                except Exception as exc:
                    out.append((type(exc), str(exc)))
            store.close()
            try:
                func(store, 1, "")
            except Exception as exc:
                out.append((type(exc), str(exc)))
            return out
        finally:
            if installed:
                wasmjit.uninstall()

    assert run_with(True) == run_with(False)


def test_install_does_not_keep_component_stores_alive() -> None:
    import weakref

    ft = FuncT((("s", Prim("string")),), Prim("string"))
    component = wc_stock.Component(ENGINE, component_text(ft))
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        root.add_func("f", lambda store, s: s + "!")
    wasmjit.install()
    try:
        refs = []
        for _ in range(5):
            store = wasmtime.Store(ENGINE)
            func = linker.instantiate(store, component).get_func(store, "run")
            assert func(store, "a") == "a!"
            assert func(store, "b") == "b!"
            refs.append(weakref.ref(store))
            del store, func
        gc.collect()
        assert [ref() for ref in refs] == [None] * 5
    finally:
        wasmjit.uninstall()


@pytest.mark.parametrize("where", ["first", "between", "last", "alone"])
def test_records_of_numbers_anywhere_among_numbers(backend: str, where: str) -> None:
    # A record of numbers is prepared once and stored field by field; the numbers around it are
    # written by one struct call whose padding must not wipe the record's header.
    point = ("p", POINT)
    numbers = [("a", Prim("u32")), ("b", Prim("s64"))]
    params = {
        "first": (point, *numbers),
        "between": (numbers[0], point, numbers[1]),
        "last": (*numbers, point),
        "alone": (point,),
    }[where]
    names = [n for n, _ in params]

    def host(*args: Any) -> Any:  # stock shapes on this side: a Record
        record = args[names.index("p")]
        out = wc_stock.Record()
        out.x = record.x + sum(a for a in args if isinstance(a, int))
        out.y = record.y * 2
        return out

    param_types: List[type] = [Point if n == "p" else int for n in names]
    signature = Callable[param_types, Point]  # type: ignore[misc]
    run, _, _ = echo(FuncT(tuple(params), POINT), host, backend, signature)
    for k in range(3):
        args = [Point(1.5 + k, -2.0) if n == "p" else 10 + k for n in names]
        total = sum(a for a in args if isinstance(a, int))
        assert run(*args) == Point(1.5 + k + total, -4.0)


#: Pairs of types a host function's trampoline for one must never read a value of the other as:
#: each goes through one check of Codec.read (which checks the kind too: the trampoline compares
#: only its numbers' kinds).
TOLD_APART = [
    # another kind at the top
    (RecordT((("a", Prim("string")),)), TupleT((Prim("string"),))),
    (RecordT((("x", Prim("u32")),)), TupleT((Prim("u32"),))),
    (OptionT(Prim("u32")), ResultT(Prim("u32"), None)),
    (EnumT(("a", "b")), FlagsT(("a", "b"))),
    (VariantT((("a", Prim("u32")),)), OptionT(Prim("u32"))),
    (ListT(Prim("u8")), Prim("string")),
    (Prim("char"), Prim("bool")),
    (Prim("u32"), Prim("s32")),
    (Prim("f64"), Prim("u64")),
    # records: generic (string field), flat (numbers only), field count, names, kinds
    (RecordT((("a", Prim("string")), ("b", Prim("u32")))), RecordT((("a", Prim("u32")), ("b", Prim("string"))))),
    (RecordT((("a", Prim("string")),)), RecordT((("b", Prim("string")),))),
    (RecordT((("x", Prim("u32")), ("y", Prim("u32")))), RecordT((("x", Prim("s32")), ("y", Prim("u32"))))),
    (RecordT((("x", Prim("u32")),)), RecordT((("x", Prim("u32")), ("y", Prim("u32"))))),
    (RecordT((("x", Prim("f64")), ("y", Prim("f64")))), RecordT((("y", Prim("f64")), ("x", Prim("f64"))))),
    (RecordT((("ab", Prim("u8")),)), RecordT((("ac", Prim("u8")),))),
    # records of numbers, read by the host program itself: a name's size (its first byte the
    # same), a field of another kind where a number was, a longer name's bytes
    (RecordT((("x", Prim("f64")), ("y", Prim("f64")))), RecordT((("x", Prim("f64")), ("yy", Prim("f64"))))),
    (RecordT((("x", Prim("u32")),)), RecordT((("x", Prim("string")),))),
    (RecordT((("width", Prim("u16")), ("h", Prim("u8")))), RecordT((("widte", Prim("u16")), ("h", Prim("u8"))))),
    # tuples: element kinds, count
    (TupleT((Prim("u32"), Prim("string"))), TupleT((Prim("string"), Prim("u32")))),
    (TupleT((Prim("u32"),)), TupleT((Prim("u32"), Prim("u32")))),
    # options and results: the payload's kind, below
    (OptionT(Prim("u32")), OptionT(Prim("s32"))),
    (OptionT(ListT(Prim("u32"))), OptionT(ListT(Prim("s64")))),
    (ResultT(Prim("u32"), Prim("string")), ResultT(Prim("string"), Prim("u32"))),
    (ResultT(None, Prim("u32")), ResultT(Prim("u32"), None)),
    # variants: case names, payload presence and kind
    (VariantT((("a", Prim("u32")), ("b", None))), VariantT((("a", None), ("b", Prim("u32"))))),
    (VariantT((("a", Prim("u32")),)), VariantT((("c", Prim("u32")),))),
    (VariantT((("a", Prim("u32")), ("b", Prim("f64")))), VariantT((("a", Prim("s32")), ("b", Prim("f64"))))),
    # enums and flags: names
    (EnumT(("a", "b")), EnumT(("c", "d"))),
    (FlagsT(("a", "b")), FlagsT(("c", "d"))),
    # lists: element kinds, nested
    (ListT(ListT(Prim("u32"))), ListT(ListT(Prim("s32")))),
    (ListT(RecordT((("x", Prim("u32")),))), ListT(RecordT((("y", Prim("u32")),)))),
    (ListT(TupleT((Prim("u8"), Prim("u8")))), ListT(TupleT((Prim("u8"), Prim("u16"))))),
]


@pytest.mark.parametrize("pair", range(len(TOLD_APART)), ids=lambda i: f"pair{i}")
def test_one_host_function_never_reads_a_value_of_another_type(pair: int, backend: str) -> None:
    """One host function imported under two types: every call of either echoes its own value
    exactly - the trampoline of one type checks what it reads (kinds, names, counts, cases) and
    hands a value of the other type over to the other's trampoline."""
    import random

    from tests.component_gen import random_value, values_equal

    rng = random.Random(pair)
    seen: List[Any] = []

    def host(value: Any) -> Any:
        seen.append(value)
        return value

    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        hf = wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    runs = []
    for ty in TOLD_APART[pair]:
        ft = FuncT((("v", ty),), ty)
        instance = linker.instantiate(store, wc_stock.Component(ENGINE, component_text(ft)))
        runs.append((ty, wc.typed(store, instance.get_func(store, "run"), backend=backend)))
    for _ in range(6):  # alternate the two types
        for ty, run in runs:
            value = random_value(rng, ty)
            got = run(value)
            assert values_equal(got, value), (ty, value, got)
            assert values_equal(seen[-1], value), (ty, value, seen[-1])
    assert len(hf.trampolines) == 2


def test_one_host_function_serves_stores_on_several_threads(backend: str) -> None:
    """One linker's host function called from four threads, each with its own store: every
    result is the calling thread's own (a host result is lowered into memory of this thread's
    before it is copied into wasmtime's: shared memory there would hand one thread another's
    string).  Thread switches forced as often as CPython allows."""
    import sys
    import threading

    ft = FuncT((("v", Prim("string")),), TupleT((Prim("string"), ListT(Prim("u32")))))
    component = wc_stock.Component(ENGINE, component_text(ft))
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        wc.define_callback(root, "f", lambda v: (v, [len(v)] * 3), backend=backend)
    errors: List[BaseException] = []
    wrong: List[Any] = []

    def worker(k: int) -> None:
        try:
            store = wasmtime.Store(ENGINE)
            run = wc.typed(store, linker.instantiate(store, component).get_func(store, "run"), backend=backend)
            for i in range(1500):
                text = f"thread {k} call {i}" + "." * (k * 7)
                got = run(text)
                if got != (text, [len(text)] * 3):
                    wrong.append((k, text, got))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    assert not wrong, wrong[:3]


def test_ok_err_some_are_frozen_value_classes() -> None:
    """Ok, Err and Some (their __init__ is hand-written for speed): subscripted construction,
    equality by class and value, hashing, immutability, replace() and pickling."""
    import copy
    import pickle

    assert Ok[int](5) == Ok(5) and Err[str]("x") == Err("x") and Some[int](3) == Some(3)
    assert Ok(1) != Err(1) and Ok(None) == Ok() and Err() == Err(None)
    assert len({Ok(1), Ok(1), Err(1)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Ok(1).value = 2  # type: ignore[misc]
    assert dataclasses.replace(Ok(1), value=2) == Ok(2)
    assert pickle.loads(pickle.dumps(Err("e"))) == Err("e") and copy.deepcopy(Some([1])) == Some([1])
    assert repr(Ok(1)) == "Ok(value=1)" and [f.name for f in dataclasses.fields(Some)] == ["value"]
    assert copy.copy(Ok([1])) == Ok([1]) and pickle.loads(pickle.dumps(Some(Ok(None)), 0)) == Some(Ok())
    import weakref

    held = Err(2)
    assert weakref.ref(held)() is held
    match Ok(3):
        case Ok(value):
            assert value == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        Err(1).other = 2  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        Ok(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Some()  # type: ignore[call-arg]


@dataclasses.dataclass
class Num:
    value: int


@dataclasses.dataclass
class Nothing:
    pass


#: The same annotations fit both types of each pair (numbers of another sign, names the
#: annotation does not fix): the user's classes go through their own read paths.
ANNOTATED_APART: List[Tuple[Any, Any, Any, List[Any]]] = [
    (
        ResultT(Prim("u32"), Prim("string")),
        ResultT(Prim("s32"), Prim("string")),
        Union[Ok[int], Err[str]],
        [Ok(7), Err("e")],
    ),
    (OptionT(Prim("u8")), OptionT(Prim("s8")), Optional[int], [5, None]),
    (
        VariantT((("num", Prim("u16")), ("nothing", None))),
        VariantT((("num", Prim("s16")), ("nothing", None))),
        Union[Num, Nothing],
        [Num(9), Nothing()],
    ),
    (ListT(Prim("u64")), ListT(Prim("s64")), List[int], [[1, 2], []]),
]


@pytest.mark.parametrize("pair", range(len(ANNOTATED_APART)), ids=lambda i: f"pair{i}")
def test_annotated_host_function_never_reads_a_value_of_another_type(pair: int, backend: str) -> None:
    """As above, with the user's classes: ``Ok``/``Err``, ``Optional``, case classes; one
    annotation fits both types, so only the read's checks tell a value of one from the other
    (a negative ``s32`` read as ``u32`` would be a silently wrong number)."""
    first, second, annotation, values = ANNOTATED_APART[pair]
    seen: List[Any] = []

    def host(v: Any) -> Any:
        seen.append(v)
        return v

    host.__annotations__ = {"v": annotation, "return": annotation}
    linker = wc_stock.Linker(ENGINE)
    with linker.root() as root:
        hf = wc.define_callback(root, "f", host, backend=backend)
    store = wasmtime.Store(ENGINE)
    runs = []
    for ty in (first, second):
        ft = FuncT((("v", ty),), ty)
        instance = linker.instantiate(store, wc_stock.Component(ENGINE, component_text(ft)))
        runs.append(wc.typed(store, instance.get_func(store, "run"), host, backend=backend))
    negative = {Ok: Ok(-7), int: -5, Num: Num(-9), list: [-1, -(2**63)]}
    for _ in range(3):
        for value in values:
            assert runs[0](value) == value and seen[-1] == value
            assert runs[1](value) == value and seen[-1] == value
        key = type(values[0])
        assert runs[1](negative[key]) == negative[key] and seen[-1] == negative[key]
    assert len(hf.trampolines) == 2
