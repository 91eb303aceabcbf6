"""``wasmjit.component.bind`` and ``define_imports`` on real components (component text format).

:data:`RICH` exports functions over every kind the annotated shapes cover
(records, enums, flags, variants, options, results, strings), a nested
interface under a versioned package name, and imports a host function and a
host interface; tests/test_component_stubs.py generates stubs from it.

(No ``from __future__ import annotations`` here: protocols defined inside
test functions refer to classes defined there too, which string annotations
could not resolve.)
"""

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Callable, NamedTuple, Optional, Protocol, Union

import pytest

pytest.importorskip("wasmtime.component")

import wasmtime
import wasmtime.component as wc

import wasmjit.component as wjc
from tests.component_gen import portable
from wasmjit.component import Err, Ok, ShapeError
from wasmjit.component.bind import BindError, Bound, bind, define_imports, wit_name

RICH = r"""
(component
  (type $point0 (record (field "x" f64) (field "y-pos" f64)))
  (import "point" (type $point (eq $point0)))
  (type $color0 (enum "red" "green" "dark-blue"))
  (import "color" (type $color (eq $color0)))
  (type $perms0 (flags "read" "write" "exec"))
  (import "perms" (type $perms (eq $perms0)))
  (type $shape0 (variant (case "circle" f64) (case "rect" $point) (case "empty")))
  (import "shape" (type $shape (eq $shape0)))
  (import "log-line" (func $log (param "msg" string)))
  (import "ns:pkg/host-math" (instance $hm
    (export "mul" (func (param "a" u32) (param "b" u32) (result u32)))))
  (alias export $hm "mul" (func $mul))

  (core module $mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (if (i32.gt_u (i32.add (global.get $bump) (local.get $size)) (i32.const 60000))
        (then (global.set $bump (i32.const 4096))))
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      (local.get $p)))
  (core instance $memi (instantiate $mem))
  (core func $log_l (canon lower (func $log) (memory (core memory $memi "memory"))
    (realloc (core func $memi "realloc"))))
  (core func $mul_l (canon lower (func $mul)))
  (core module $main
    (import "env" "memory" (memory 1))
    (import "env" "log" (func $log (param i32 i32)))
    (import "env" "mul" (func $mul (param i32 i32) (result i32)))
    (data (i32.const 200) "division by zero")
    (data (i32.const 300) "hello, ")
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "norm") (param f64 f64) (result f64)
      (f64.sqrt (f64.add (f64.mul (local.get 0) (local.get 0)) (f64.mul (local.get 1) (local.get 1)))))
    (func (export "next-color") (param i32) (result i32)
      (i32.rem_u (i32.add (local.get 0) (i32.const 1)) (i32.const 3)))
    (func (export "toggle") (param i32) (result i32) (i32.xor (local.get 0) (i32.const 7)))
    (func (export "safe-div") (param i32 i32) (result i32)
      (if (i32.eqz (local.get 1))
        (then
          (i32.store8 (i32.const 64) (i32.const 1))
          (i32.store (i32.const 68) (i32.const 200))
          (i32.store (i32.const 72) (i32.const 16)))
        (else
          (i32.store8 (i32.const 64) (i32.const 0))
          (i32.store (i32.const 68) (i32.div_u (local.get 0) (local.get 1)))))
      (i32.const 64))
    (func (export "area") (param i32 f64 f64) (result f64)
      (if (result f64) (i32.eqz (local.get 0))
        (then (f64.mul (f64.mul (local.get 1) (local.get 1)) (f64.const 3)))
        (else (if (result f64) (i32.eq (local.get 0) (i32.const 1))
          (then (f64.mul (local.get 1) (local.get 2)))
          (else (f64.const 0))))))
    (func (export "maybe-double") (param i32 i32) (result i32)
      (i32.store8 (i32.const 96) (local.get 0))
      (i32.store (i32.const 100) (i32.mul (local.get 1) (i32.const 2)))
      (i32.const 96))
    (func (export "greet") (param i32 i32) (result i32)
      (memory.copy (i32.const 307) (local.get 0) (local.get 1))
      (i32.store (i32.const 128) (i32.const 300))
      (i32.store (i32.const 132) (i32.add (local.get 1) (i32.const 7)))
      (i32.const 128))
    (func (export "log-it") (param i32 i32) (call $log (local.get 0) (local.get 1)))
    (func (export "call-mul") (param i32 i32) (result i32) (call $mul (local.get 0) (local.get 1))))
  (core instance $mi (instantiate $main (with "env" (instance
    (export "memory" (memory $memi "memory"))
    (export "log" (func $log_l))
    (export "mul" (func $mul_l))))))

  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $mi "add")))
  (func $norm (param "p" $point) (result f64) (canon lift (core func $mi "norm")))
  (func $next (param "c" $color) (result $color) (canon lift (core func $mi "next-color")))
  (func $toggle (param "p" $perms) (result $perms) (canon lift (core func $mi "toggle")))
  (func $div (param "a" u32) (param "b" u32) (result (result u32 (error string)))
    (canon lift (core func $mi "safe-div") (memory (core memory $memi "memory"))))
  (func $area (param "s" $shape) (result f64) (canon lift (core func $mi "area")))
  (func $maybe (param "x" (option u32)) (result (option u32))
    (canon lift (core func $mi "maybe-double") (memory (core memory $memi "memory"))))
  (func $greet (param "name" string) (result string)
    (canon lift (core func $mi "greet") (memory (core memory $memi "memory"))
      (realloc (core func $memi "realloc"))))
  (func $logit (param "msg" string)
    (canon lift (core func $mi "log-it") (memory (core memory $memi "memory"))
      (realloc (core func $memi "realloc"))))
  (func $callmul (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $mi "call-mul")))

  (export $pointo "point" (type $point))
  (export $coloro "color" (type $color))
  (export $permso "perms" (type $perms))
  (export $shapeo "shape" (type $shape))
  (export "add-numbers" (func $add))
  (export "next-color" (func $next))
  (export "toggle-perms" (func $toggle))
  (export "safe-div" (func $div))
  (export "area" (func $area))
  (export "maybe-double" (func $maybe))
  (export "greet" (func $greet))
  (export "log-it" (func $logit))
  (export "call-mul" (func $callmul))
  (instance $geo (export "norm" (func $norm)) (export "add-two" (func $add)))
  (export "ns:pkg/geometry@1.0.0" (instance $geo)))
"""

RICH_EXPORTS = {
    "add_numbers",
    "next_color",
    "toggle_perms",
    "safe_div",
    "area",
    "maybe_double",
    "greet",
    "log_it",
    "call_mul",
    "geometry",
}


# Python classes standing for RICH's types --------------------------------------------------------------------


@dataclass
class Point:
    x: float
    y_pos: float


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    DARK_BLUE = "dark-blue"


class Perms(enum.Flag):
    READ = enum.auto()
    WRITE = enum.auto()
    EXEC = enum.auto()


@dataclass
class Circle:
    value: float


@dataclass
class Rect:
    value: Point


@dataclass
class Empty:
    pass


Shape = Union[Circle, Rect, Empty]


class Geometry(Protocol):
    def norm(self, p: Point, /) -> float: ...
    def add_two(self, a: int, b: int, /) -> int: ...


class Exports(Protocol):
    geometry: Annotated[Geometry, "ns:pkg/geometry@1.0.0"]

    def add_numbers(self, a: int, b: int, /) -> int: ...
    def next_color(self, c: Color, /) -> Color: ...
    def toggle_perms(self, p: Perms, /) -> Perms: ...
    def safe_div(self, a: int, b: int, /) -> Ok[int] | Err[str]: ...
    def area(self, s: Shape, /) -> float: ...
    def maybe_double(self, x: Optional[int], /) -> Optional[int]: ...
    def greet(self, name: str, /) -> str: ...
    def log_it(self, msg: str, /) -> None: ...
    def call_mul(self, a: int, b: int, /) -> int: ...


class HostMath:
    def mul(self, a: int, b: int) -> int:
        return a * b


class Host:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.host_math = HostMath()

    def log_line(self, msg: str) -> None:
        self.lines.append(msg)


# Fixtures ----------------------------------------------------------------------------------------------------


class World(NamedTuple):
    engine: wasmtime.Engine
    component: wc.Component
    store: wasmtime.Store
    instance: wc.Instance
    host: Host


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="module")
def rich(engine: wasmtime.Engine) -> wc.Component:
    return wc.Component(engine, portable(RICH))


@pytest.fixture
def world(engine: wasmtime.Engine, rich: wc.Component) -> World:
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    host = Host()
    define_imports(linker, rich, host)
    return World(engine, rich, store, linker.instantiate(store, rich), host)


def instantiate(engine: wasmtime.Engine, text: str) -> tuple[wc.Component, wasmtime.Store, wc.Instance]:
    component = wc.Component(engine, portable(text))
    store = wasmtime.Store(engine)
    return component, store, wc.Linker(engine).instantiate(store, component)


# bind(component=) --------------------------------------------------------------------------------------------


def test_bind_lists_every_export_from_the_component(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    assert isinstance(exports, Bound)
    assert set(dir(exports)) == RICH_EXPORTS
    assert set(exports) == RICH_EXPORTS and len(exports) == len(RICH_EXPORTS)
    assert exports.add_numbers(2, 3) == 5
    assert exports.greet("world") == "hello, world"
    assert exports.call_mul(6, 7) == 42
    exports.log_it("one")
    assert world.host.lines == ["one"]


def test_nested_interface_is_a_nested_attribute(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    assert isinstance(exports.geometry, Bound)
    assert set(dir(exports.geometry)) == {"norm", "add_two"}
    assert exports.geometry.add_two(40, 2) == 42
    assert exports.geometry.norm(_stock_point(3.0, 4.0)) == 5.0


def test_index_by_wit_name(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    assert exports["ns:pkg/geometry@1.0.0"] is exports.geometry
    assert exports["ns:pkg/geometry@1.0.0"]["add-two"] is exports.geometry.add_two
    assert exports["add-numbers"] is exports.add_numbers is exports["add_numbers"]
    assert "add-numbers" in exports and "geometry" in exports and "nope" not in exports
    with pytest.raises(KeyError):
        exports["nope"]


def test_component_as_third_argument(world: World) -> None:
    exports = bind(world.store, world.instance, world.component)
    assert set(dir(exports)) == RICH_EXPORTS
    assert exports.add_numbers(1, 1) == 2


def test_without_protocol_values_have_stock_shapes(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    assert exports.next_color("dark-blue") == "red"
    assert exports.toggle_perms({"read"}) == {"write", "exec"}
    assert exports.safe_div(7, 2) == 3
    assert exports.safe_div(1, 0) == "division by zero"
    assert exports.area(2.0) == 12.0
    assert exports.maybe_double(4) == 8
    assert exports.maybe_double(None) is None


def test_repr_names_functions_and_interfaces(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    text = repr(exports)
    assert text.startswith("<wasmjit.component.bind exports:")
    assert "add_numbers: func(a: u32, b: u32) -> u32" in text
    assert "geometry (ns:pkg/geometry@1.0.0): <2 exports>" in text
    assert "norm: func(p: record { x: f64, y-pos: f64 }) -> f64" in repr(exports.geometry)


def test_bound_is_read_only(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    with pytest.raises(AttributeError, match="read-only"):
        exports.add_numbers = None
    with pytest.raises(AttributeError, match="read-only"):
        del exports.greet


def test_callers_are_named_after_their_attributes(world: World) -> None:
    exports = bind(world.store, world.instance, component=world.component)
    assert exports.add_numbers.__name__ == "add_numbers"
    assert exports.geometry.add_two.__name__ == "add_two"


def test_every_backend(world: World, backend: str) -> None:
    exports = bind(world.store, world.instance, Exports, component=world.component, backend=backend)
    for caller in (exports.add_numbers, exports.geometry.norm, exports.safe_div):
        assert caller.__wasmjit__.backend == backend
    assert exports.add_numbers(2, 2) == 4
    assert exports.geometry.norm(Point(3.0, 4.0)) == 5.0
    assert exports.safe_div(1, 0) == Err("division by zero")


def _stock_point(x: float, y: float) -> wc.Record:
    record = wc.Record()
    record.x = x
    setattr(record, "y-pos", y)
    return record


# kebab-case -> snake_case ------------------------------------------------------------------------------------

NAMES = r"""
(component
  (core module $m
    (func (export "one") (result i32) (i32.const 1))
    (func (export "two") (result i32) (i32.const 2))
    (func (export "three") (result i32) (i32.const 3)))
  (core instance $mi (instantiate $m))
  (func $one (result u32) (canon lift (core func $mi "one")))
  (func $two (result u32) (canon lift (core func $mi "two")))
  (func $three (result u32) (canon lift (core func $mi "three")))
  (export "is-ready-now" (func $one))
  (export "import" (func $two))
  (export "get-HTTP-code" (func $three))
  (instance $a (export "get" (func $one)))
  (instance $b (export "get" (func $two)))
  (instance $c (export "get" (func $three)))
  (export "a:x/store" (instance $a))
  (export "b:y/store@2.0.0" (instance $b))
  (export "plain-iface" (instance $c)))
"""


def test_kebab_case_becomes_snake_case(engine: wasmtime.Engine) -> None:
    component, store, instance = instantiate(engine, NAMES)
    exports = bind(store, instance, component=component)
    assert exports.is_ready_now() == 1
    assert exports.import_() == 2  # a keyword gets a trailing underscore
    assert exports.get_HTTP_code() == 3
    # Two interfaces named "store": each gets its full name.
    assert exports.a_x_store.get() == 1
    assert exports.b_y_store.get() == 2
    assert exports.plain_iface.get() == 3
    assert set(dir(exports)) == {"is_ready_now", "import_", "get_HTTP_code", "a_x_store", "b_y_store", "plain_iface"}


def test_protocol_names_wit_names_explicitly(engine: wasmtime.Engine) -> None:
    component, store, instance = instantiate(engine, NAMES)

    class Store(Protocol):
        def get(self) -> int: ...

    class Named(Protocol):
        first: Annotated[Store, "a:x/store"]
        second: Annotated[Store, "b:y/store@2.0.0"]
        plain_iface: Store

        @wit_name("get-HTTP-code")
        def http_code(self) -> int: ...

        def import_(self) -> int: ...

    exports = bind(store, instance, Named)
    assert exports.first.get() == 1 and exports.second.get() == 2 and exports.plain_iface.get() == 3
    assert exports.http_code() == 3 and exports.import_() == 2
    assert set(dir(exports)) == {"first", "second", "plain_iface", "http_code", "import_"}
    # With the component too: the protocol's names win, the rest keep theirs.
    both = bind(store, instance, Named, component=component)
    assert set(dir(both)) == {"first", "second", "plain_iface", "http_code", "import_", "is_ready_now"}


# bind(protocol) ----------------------------------------------------------------------------------------------


def test_protocol_gives_annotated_shapes(world: World) -> None:
    exports = bind(world.store, world.instance, Exports, component=world.component)
    assert exports.next_color(Color.DARK_BLUE) is Color.RED
    assert exports.next_color(Color.RED) is Color.GREEN
    assert exports.toggle_perms(Perms.READ) == Perms.WRITE | Perms.EXEC
    assert exports.toggle_perms(Perms(0)) == Perms.READ | Perms.WRITE | Perms.EXEC
    assert exports.safe_div(7, 2) == Ok(3)
    assert exports.safe_div(1, 0) == Err("division by zero")
    assert exports.area(Circle(2.0)) == 12.0
    assert exports.area(Rect(Point(2.0, 3.0))) == 6.0
    assert exports.area(Empty()) == 0.0
    assert exports.maybe_double(21) == 42
    assert exports.maybe_double(None) is None
    assert exports.geometry.norm(Point(3.0, 4.0)) == 5.0
    with pytest.raises(OverflowError):
        exports.add_numbers(-1, 0)


def test_protocol_alone_is_enough(world: World) -> None:
    """The protocol declares the exports: no component needed."""
    exports = bind(world.store, world.instance, Exports)
    assert set(dir(exports)) == RICH_EXPORTS
    assert exports.geometry.norm(Point(6.0, 8.0)) == 10.0
    assert exports.next_color(Color.GREEN) is Color.DARK_BLUE


def test_protocol_subset_with_component_binds_the_rest_stock(world: World) -> None:
    class Few(Protocol):
        def next_color(self, c: Color, /) -> Color: ...

    exports = bind(world.store, world.instance, Few, component=world.component)
    assert set(dir(exports)) == RICH_EXPORTS
    assert exports.next_color(Color.RED) is Color.GREEN
    assert exports.toggle_perms({"exec"}) == {"read", "write"}  # not declared: stock shapes
    only = bind(world.store, world.instance, Few)
    assert set(dir(only)) == {"next_color"}


def test_callable_attributes_and_named_tuples(world: World) -> None:
    class P(NamedTuple):
        x: float
        y_pos: float

    class Geo(Protocol):
        norm: Callable[[P], float]

    class Top(Protocol):
        geometry: Annotated[Geo, "ns:pkg/geometry@1.0.0"]
        add_numbers: Callable[[int, int], int]

    exports = bind(world.store, world.instance, Top)
    assert exports.geometry.norm(P(3.0, 4.0)) == 5.0
    assert exports.add_numbers(1, 2) == 3


# Protocol errors, at bind time -------------------------------------------------------------------------------


def _bind_error(world: World, protocol: type, *, component: bool = True) -> str:
    with pytest.raises(TypeError) as info:
        bind(world.store, world.instance, protocol, component=world.component if component else None)
    return str(info.value)


@pytest.mark.parametrize("with_component", [True, False])
def test_missing_function_is_named(world: World, with_component: bool) -> None:
    class Missing(Protocol):
        def add_numbers(self, a: int, b: int, /) -> int: ...
        def subtract(self, a: int, b: int, /) -> int: ...

    with pytest.raises(BindError, match=r"Missing\.subtract: the (component|instance) exports no function"):
        bind(world.store, world.instance, Missing, component=world.component if with_component else None)


@pytest.mark.parametrize("with_component", [True, False])
def test_missing_interface_is_named(world: World, with_component: bool) -> None:
    class Nope(Protocol):
        def get(self) -> int: ...

    class Missing(Protocol):
        stats: Annotated[Nope, "ns:pkg/stats"]

    with pytest.raises(BindError, match=r"Missing\.stats: the (component|instance) exports no interface"):
        bind(world.store, world.instance, Missing, component=world.component if with_component else None)


def test_missing_nested_function_is_named(world: World) -> None:
    class Geo(Protocol):
        def volume(self, p: Point, /) -> float: ...

    class Top(Protocol):
        geometry: Annotated[Geo, "ns:pkg/geometry@1.0.0"]

    message = _bind_error(world, Top)
    assert "Top.geometry.volume" in message and "exports no function" in message
    assert "norm (func)" in message  # what it does export


def test_function_declared_as_interface(world: World) -> None:
    class Nope(Protocol):
        def get(self) -> int: ...

    class Wrong(Protocol):
        greet: Nope

    message = _bind_error(world, Wrong)
    assert "Wrong.greet" in message and "is a function, not an interface" in message
    with pytest.raises(BindError, match=r"Wrong\.greet"):
        bind(world.store, world.instance, Wrong)


def test_interface_declared_as_function(world: World) -> None:
    class Wrong(Protocol):
        @wit_name("ns:pkg/geometry@1.0.0")
        def geometry(self) -> int: ...

    assert "is an interface, not a function" in _bind_error(world, Wrong)
    with pytest.raises(BindError, match="not a function"):
        bind(world.store, world.instance, Wrong)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("def add_numbers(self, a: int, b: float, /) -> int: ...", r"add_numbers, parameter 1 \(b\): u32 is int"),
        ("def add_numbers(self, a: int, b: int, /) -> str: ...", r"add_numbers, result: u32 is int, not str"),
        ("def add_numbers(self, a: int, b: int, /) -> None: ...", r"add_numbers is annotated -> None"),
        ("def add_numbers(self) -> int: ...", r"add_numbers takes 0 parameters; .* takes 2"),
        ("def add_numbers(self, a: int, /) -> int: ...", r"add_numbers takes 1 parameter; .* takes 2"),
        ("def log_it(self, msg: str, /) -> int: ...", r"log_it annotates a result; .* returns nothing"),
        ("def greet(self, name: bytes, /) -> str: ...", r"greet, parameter 0 \(name\): string is str"),
        (
            "def next_color(self, c: Perms, /) -> Color: ...",
            r"next_color, parameter 0 \(c\): enum \{ red, green, dark-blue \} needs an enum.Enum, not Perms",
        ),
        ("def next_color(self, c: Shade, /) -> Color: ...", r"Shade has no member for the WIT case 'dark-blue'"),
        ("def toggle_perms(self, p: Color, /) -> Perms: ...", r"toggle_perms, parameter 0 \(p\): .*enum.Flag"),
        ("def safe_div(self, a: int, b: int, /) -> int: ...", r"safe_div, result: .*Ok"),
        ("def safe_div(self, a: int, b: int, /) -> Ok[str] | Err[str]: ...", r"safe_div, result: u32 is int"),
        ("def maybe_double(self, x: int, /) -> Optional[int]: ...", r"maybe_double, parameter 0 \(x\): .*Optional"),
        ("def area(self, s: Union[Circle, Empty], /) -> float: ...", r"area, parameter 0 \(s\): no class .* 'rect'"),
        ("def area(self, s: Union[Circle, BadRect, Empty], /) -> float: ...", r"area, parameter 0 \(s\)"),
    ],
)
def test_mismatched_annotations_are_named(world: World, method: str, expected: str) -> None:
    class Shade(enum.Enum):
        RED = "red"
        GREEN = "green"

    @dataclass
    class Rect:  # a case class whose payload is wrong
        value: int

    namespace: dict[str, Any] = dict(globals(), Shade=Shade, BadRect=Rect)
    exec(f"class Bad(Protocol):\n    {method}\n", namespace)
    bad = namespace["Bad"]
    for component in (True, False):
        with pytest.raises(TypeError, match=expected) as info:
            bind(world.store, world.instance, bad, component=world.component if component else None)
        assert str(info.value).startswith("Bad.")


def test_record_field_mismatch_is_named(world: World) -> None:
    @dataclass
    class Flat:
        x: float
        y: float

    @dataclass
    class Ints:
        x: int
        y_pos: float

    class Geo(Protocol):
        def norm(self, p: Flat, /) -> float: ...

    class Geo2(Protocol):
        def norm(self, p: Ints, /) -> float: ...

    class Top(Protocol):
        geometry: Annotated[Geo, "ns:pkg/geometry@1.0.0"]

    class Top2(Protocol):
        geometry: Annotated[Geo2, "ns:pkg/geometry@1.0.0"]

    message = _bind_error(world, Top)
    assert message.startswith("Top.geometry.norm, parameter 0 (p):")
    assert "Flat has fields x, y; the WIT record has x, y_pos" in message
    assert "(at x)" in _bind_error(world, Top2) and "f64 is float, not int" in _bind_error(world, Top2)


def test_bind_refuses_what_it_cannot_use(world: World) -> None:
    with pytest.raises(TypeError, match="needs the component"):
        bind(world.store, world.instance)
    with pytest.raises(TypeError, match="Instance"):
        bind(world.store, object(), component=world.component)
    with pytest.raises(TypeError, match="both"):
        bind(world.store, world.instance, world.component, component=world.component)
    with pytest.raises(TypeError, match="a class"):
        bind(world.store, world.instance, 42)
    with pytest.raises(TypeError, match="Component"):
        bind(world.store, world.instance, component="rich.wasm")


def test_unresolvable_protocol_annotation(world: World) -> None:
    class Dangling(Protocol):
        thing: "NoSuchClass"  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"cannot resolve the annotations of Dangling: name 'NoSuchClass'"):
        bind(world.store, world.instance, Dangling)

    class DanglingMethod(Protocol):
        def add_numbers(self, a: "Nope", b: int, /) -> int: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"DanglingMethod\.add_numbers: cannot resolve its annotations: name 'Nope'"):
        bind(world.store, world.instance, DanglingMethod)


# define_imports ----------------------------------------------------------------------------------------------


class ImportsProtocol(Protocol):
    host_math: Annotated[HostMath, "ns:pkg/host-math"]

    def log_line(self, msg: str, /) -> None: ...


def test_define_imports_registers_functions_and_interfaces(engine: wasmtime.Engine, rich: wc.Component) -> None:
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    host = Host()
    define_imports(linker, rich, host, ImportsProtocol)
    exports = bind(store, linker.instantiate(store, rich), Exports)
    exports.log_it("héllo")
    assert host.lines == ["héllo"]
    assert exports.call_mul(3, 5) == 15


def test_define_imports_from_a_dict(engine: wasmtime.Engine, rich: wc.Component) -> None:
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    seen: list[str] = []
    define_imports(linker, rich, {"log_line": seen.append, "host_math": {"mul": lambda a, b: a - b}})
    exports = bind(store, linker.instantiate(store, rich), component=rich)
    exports.log_it("x")
    assert seen == ["x"] and exports.call_mul(10, 4) == 6


def test_define_imports_missing_host_function(engine: wasmtime.Engine, rich: wc.Component) -> None:
    class NoMath:
        def log_line(self, msg: str) -> None: ...

    with pytest.raises(BindError, match=r"NoMath\.host_math: no host interface for the import 'ns:pkg/host-math'"):
        define_imports(wc.Linker(engine), rich, NoMath())

    class HalfMath:
        host_math = object()

        def log_line(self, msg: str) -> None: ...

    with pytest.raises(BindError, match=r"HalfMath\.host_math\.mul: no host function for the import 'mul'"):
        define_imports(wc.Linker(engine), rich, HalfMath())


def test_define_imports_checks_annotations_before_instantiation(engine: wasmtime.Engine, rich: wc.Component) -> None:
    class BadMath:
        def mul(self, a: int, b: str) -> int:
            return 0

    class BadHost(Host):
        def __init__(self) -> None:
            super().__init__()
            self.host_math = BadMath()  # type: ignore[assignment]

    with pytest.raises(ShapeError, match=r"BadMath\.mul, parameter 1 \(b\): u32 is int, not str"):
        define_imports(wc.Linker(engine), rich, BadHost())


def test_define_imports_checks_the_protocol(engine: wasmtime.Engine, rich: wc.Component) -> None:
    class Stale(Protocol):
        def log_line(self, msg: bytes, /) -> None: ...

    with pytest.raises(ShapeError, match=r"Stale\.log_line, parameter 0 \(msg\): string is str, not bytes"):
        define_imports(wc.Linker(engine), rich, Host(), Stale)

    class Extra(Protocol):
        def log_line(self, msg: str, /) -> None: ...
        def fetch(self) -> int: ...

    with pytest.raises(BindError, match=r"Extra\.fetch: the component imports no function fetch"):
        define_imports(wc.Linker(engine), rich, Host(), Extra)


def test_host_exception_crosses_unchanged(engine: wasmtime.Engine, rich: wc.Component) -> None:
    class Boom(Exception):
        pass

    error = Boom("from the host")

    class Failing(Host):
        def log_line(self, msg: str) -> None:
            raise error

    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    define_imports(linker, rich, Failing())
    exports = bind(store, linker.instantiate(store, rich), Exports)
    with pytest.raises(Boom) as info:
        exports.log_it("x")
    assert info.value is error


def test_define_imports_uses_define_callback(
    engine: wasmtime.Engine, rich: wc.Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each import is one ``define_callback`` (on the right linker instance), with the options passed on."""
    import wasmjit.component.callbacks as callbacks

    calls: list[tuple[str, dict[str, Any]]] = []
    real = callbacks.define_callback

    def spy(linker_instance: Any, name: str, fn: Any, **options: Any) -> Any:
        calls.append((name, options))
        return real(linker_instance, name, fn, **options)

    monkeypatch.setattr(callbacks, "define_callback", spy)
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    host = Host()
    define_imports(linker, rich, host, backend="reflect", dynamic_code=False)
    assert calls == [
        ("log-line", {"dynamic_code": False, "backend": "reflect"}),
        ("mul", {"dynamic_code": False, "backend": "reflect"}),
    ]
    exports = bind(store, linker.instantiate(store, rich), Exports)
    exports.log_it("a")
    assert host.lines == ["a"] and exports.call_mul(2, 21) == 42
    assert wjc.define_callback is real


def test_data_attributes_are_not_members(world: World) -> None:
    class WithData(Protocol):
        version: str
        count: int

        def add_numbers(self, a: int, b: int, /) -> int: ...

    assert set(dir(bind(world.store, world.instance, WithData))) == {"add_numbers"}


def test_attribute_names() -> None:
    from wasmjit.component.bind import export_attribute_names, function_attribute, interface_attribute

    assert function_attribute("add-two") == "add_two"
    assert function_attribute("class") == "class_"
    assert function_attribute("[constructor]counter") == "counter_new"
    assert function_attribute("[method]counter.get-value") == "counter_get_value"
    assert function_attribute("[static]counter.make") == "counter_make"
    assert interface_attribute("wasi:cli/stdout@0.2.0") == "stdout"
    assert interface_attribute("my-iface") == "my_iface"
    names = export_attribute_names(
        [
            ("[method]counter.get", "func"),
            ("counter-get", "func"),
            ("x", "func"),
            ("ns:a/x", "instance"),
            ("ns:b/x@1.0.0", "instance"),
            ("ns:c/y", "instance"),
        ]
    )
    assert names == {
        "[method]counter.get": "counter_get",
        "counter-get": "counter_get_2",
        "x": "x",
        "ns:a/x": "ns_a_x",
        "ns:b/x@1.0.0": "ns_b_x",
        "ns:c/y": "y",
    }
