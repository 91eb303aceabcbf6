"""Under wasmjit.install(), wasmtime-py's Memory and Caller methods give exactly stock's results and errors.

Each case runs the same wasmtime-py code twice, on identical fresh stores:
once with wasmjit uninstalled (stock) and once installed, and compares
what came out (values, types, exception types and messages) and the
memory's bytes afterwards.  Pointers and ctypes arrays are compared by
type and by their offset from the memory's base.
"""

from __future__ import annotations

import array
import ctypes
import itertools
import subprocess
import sys
from typing import Any, Callable, Dict, List, Tuple

import pytest
import wasmtime

import wasmjit
from wasmjit import dropin
from wasmjit.boundary import memories as jit_memory

try:
    import numpy
except ImportError:  # pragma: no cover - numpy is optional
    numpy = None  # type: ignore[assignment]

PAGE = 65536
I32 = wasmtime.ValType.i32

GUEST = """(module
  (import "host" "f" (func $f (param i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "g") (mut i32) (i32.const 42))
  (table (export "t") 1 funcref)
  (data (i32.const 16) "hello, wasm")
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "run") (param i32) (result i32) (call $f (local.get 0))))"""


@pytest.fixture(autouse=True)
def _uninstalled() -> Any:
    wasmjit.uninstall()
    yield
    wasmjit.uninstall()


def _base(store: Any, memory: wasmtime.Memory) -> int:
    return ctypes.addressof(dropin._originals.get("Memory.data_ptr", wasmtime.Memory.data_ptr)(memory, store).contents)


def _shown(value: Any, base: int) -> Any:
    """What a result is, independent of where the store's memory happens to live."""
    if isinstance(value, (bytes, bytearray)):
        return (type(value).__name__, bytes(value))
    if isinstance(value, ctypes._Pointer):
        return (type(value), ctypes.cast(value, ctypes.c_void_p).value - base)  # type: ignore[operator]
    if isinstance(value, ctypes.Array):
        return (type(value), len(value), ctypes.addressof(value) - base)
    if isinstance(value, (wasmtime.Func, wasmtime.Memory, wasmtime.Global, wasmtime.Table)):
        return type(value)
    return value


def _outcome(action: Callable[[], Any], base: int) -> Tuple[Any, ...]:
    try:
        return ("ok", _shown(action(), base))
    except Exception as error:
        return ("raised", type(error), str(error))


def _setup() -> Tuple[wasmtime.Store, Dict[str, Any]]:
    store = wasmtime.Store()
    host = wasmtime.Func(store, wasmtime.FuncType([I32()], [I32()]), lambda x: x)
    module = wasmtime.Module(store.engine, GUEST)
    return store, dict(wasmtime.Instance(store, module, [host]).exports(store))


def _both(case: Callable[[wasmtime.Store, Dict[str, Any]], Any]) -> None:
    """Run ``case`` stock and installed; the outcome and the memory's bytes must be the same."""
    seen = []
    for installed in (False, True):
        (wasmjit.install if installed else wasmjit.uninstall)()
        try:
            store, exports = _setup()
            memory = exports["memory"]
            base = _base(store, memory)
            result = _outcome(lambda store=store, exports=exports: case(store, exports), base)
            wasmjit.uninstall()
            after = bytes(memory.read(store)) if not wasmtime_closed(store) else b"closed"
            seen.append((result, after))
        finally:
            wasmjit.uninstall()
    assert seen[1] == seen[0]


def wasmtime_closed(store: wasmtime.Store) -> bool:
    try:
        store._context()
    except ValueError:
        return True
    return False


# Memory.read --------------------------------------------------------------------------

INDICES: List[Any] = [0, None, 1, -1, -10, 16, 27, 100, PAGE - 1, PAGE, PAGE + 1, -PAGE, -PAGE - 1, 1 << 40]
INDICES += [-(1 << 40), True, 1.5, "a"]
if numpy is not None:
    INDICES.append(numpy.int64(20))


@pytest.mark.parametrize("start", INDICES, ids=repr)
def test_read_is_stock(start: Any) -> None:
    for stop in INDICES:
        _both(lambda store, exports, stop=stop: exports["memory"].read(store, start, stop))
    _both(lambda store, exports: exports["memory"].read(store, start))
    _both(lambda store, exports: exports["memory"].read(store))


# Memory.write -------------------------------------------------------------------------

VALUES: List[Callable[[], Any]] = [
    lambda: b"abc",
    lambda: bytearray(b"xyz"),
    lambda: memoryview(b"view"),
    lambda: [1, 2, 255],
    lambda: 3,
    lambda: "text",
    lambda: array.array("H", [1, 0xFFFF]),
    lambda: b"",
    lambda: bytearray(),
    lambda: None,
    lambda: 1.5,
    lambda: iter([7, 8]),
    lambda: [256],
    lambda: b"z" * (PAGE + 1),
]
STARTS: List[Any] = [None, 0, 1, -1, -3, PAGE - 3, PAGE - 2, PAGE - 1, PAGE, -PAGE, -PAGE - 1, 1 << 40, "a", 1.5, True]


@pytest.mark.parametrize("make", VALUES, ids=[f"value{i}" for i in range(len(VALUES))])
def test_write_is_stock(make: Callable[[], Any]) -> None:
    for start in STARTS:
        _both(lambda store, exports, start=start: exports["memory"].write(store, make(), start))
    _both(lambda store, exports: exports["memory"].write(store, make()))


# data_ptr, data_len, size, get_buffer_ptr, grow ---------------------------------------


def test_the_other_methods_are_stock() -> None:
    _both(lambda store, exports: exports["memory"].data_ptr(store))
    _both(lambda store, exports: exports["memory"].data_ptr(store)[16])
    _both(lambda store, exports: exports["memory"].data_len(store))
    _both(lambda store, exports: exports["memory"].size(store))
    for delta in (1, 0, -1, "1", 1 << 70):
        _both(lambda store, exports, d=delta: (exports["memory"].grow(store, d), exports["memory"].data_len(store)))
    for size, offset in itertools.product([None, 0, 1, 16, -1, "x", 1.5, PAGE, PAGE + 10], [0, 5, -1, "x", 1.5]):
        _both(lambda store, exports, size=size, offset=offset: exports["memory"].get_buffer_ptr(store, size, offset))
    _both(lambda store, exports: bytes(exports["memory"].get_buffer_ptr(store, 11, 16)))
    _both(lambda store, exports: exports["memory"].get_buffer_ptr(store))


def test_store_likes_wasmtime_py_does_not_know_or_closed() -> None:
    methods: List[Callable[[Any, wasmtime.Memory], Any]] = [
        lambda s, m: m.read(s, 0, 4),
        lambda s, m: m.write(s, b"ab", 0),
        lambda s, m: m.data_ptr(s),
        lambda s, m: m.data_len(s),
        lambda s, m: m.size(s),
        lambda s, m: m.get_buffer_ptr(s, 4),
        lambda s, m: m.get_buffer_ptr(s),
        lambda s, m: m.grow(s, 1),
    ]
    for method in methods:
        for other in (None, 1, "store", object()):
            _both(lambda store, exports, method=method, other=other: method(other, exports["memory"]))

        def closed(store: wasmtime.Store, exports: Dict[str, Any], method: Any = method) -> Any:
            memory = exports["memory"]
            store.close()
            return method(store, memory)

        _both(closed)


def test_zero_page_memories() -> None:
    def case(action: Callable[[wasmtime.Store, wasmtime.Memory], Any]) -> Callable[..., Any]:
        def run(store: wasmtime.Store, exports: Dict[str, Any]) -> Any:
            memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(0, None)))
            return _shown(action(store, memory), _base(store, memory))

        return run

    _both(case(lambda s, m: m.read(s)))
    _both(case(lambda s, m: m.read(s, 0, 10)))
    _both(case(lambda s, m: m.write(s, b"", 0)))
    _both(case(lambda s, m: m.write(s, b"x")))
    _both(case(lambda s, m: m.data_len(s)))
    _both(case(lambda s, m: m.size(s)))
    _both(case(lambda s, m: m.get_buffer_ptr(s)))


# Callers ------------------------------------------------------------------------------

NAMES = ["memory", "grow", "g", "t", "f", "nope", "", "memory\x00", 1, None, b"memory"]


def _in_callback(check: Callable[[Any], Any], kept: List[Any]) -> Callable[[wasmtime.Store, Dict[str, Any]], Any]:
    """A case whose body runs in a host function that receives the caller."""

    def case(store: wasmtime.Store, exports: Dict[str, Any]) -> Any:
        results: List[Any] = []

        def host(caller: Any, x: int) -> int:
            kept.append(caller)
            memory = caller["memory"]
            results.append(_outcome(lambda: check(caller), _base(caller, memory)))
            return x

        func = wasmtime.Func(store, wasmtime.FuncType([I32()], [I32()]), host, access_caller=True)
        module = wasmtime.Module(store.engine, GUEST)
        wasmtime.Instance(store, module, [func]).exports(store)["run"](store, 5)
        return results

    return case


@pytest.mark.parametrize("name", NAMES, ids=repr)
def test_caller_lookups_are_stock(name: Any) -> None:
    kept: List[Any] = []
    _both(_in_callback(lambda caller: caller.get(name), kept))
    _both(_in_callback(lambda caller: caller[name], kept))
    # and on the caller once its call returned
    _both(lambda store, exports: _in_callback(lambda caller: None, kept)(store, exports) and kept[-1].get(name))
    _both(lambda store, exports: _in_callback(lambda caller: None, kept)(store, exports) and kept[-1][name])


def test_memory_methods_with_a_caller_are_stock() -> None:
    kept: List[Any] = []
    actions: List[Callable[[Any], Any]] = [
        lambda c: c["memory"].read(c, 16, 27),
        lambda c: c["memory"].read(c, -5),
        lambda c: c["memory"].write(c, b"HELLO", 16),
        lambda c: c["memory"].write(c, b"x", PAGE),
        lambda c: c["memory"].data_len(c),
        lambda c: c["memory"].size(c),
        lambda c: c["memory"].data_ptr(c),
        lambda c: c["memory"].get_buffer_ptr(c, 4, 16),
        lambda c: (c["memory"].grow(c, 1), c["memory"].read(c, PAGE, PAGE + 4), c["memory"].data_len(c)),
        lambda c: c.get("g").value(c),
        lambda c: c["f"](c, 9),
        lambda c: c["grow"](c, 1),
    ]
    for action in actions:
        _both(_in_callback(action, kept))

    def after_return(store: wasmtime.Store, exports: Dict[str, Any]) -> Any:
        memory: List[Any] = []
        _in_callback(lambda caller: memory.append(caller["memory"]), kept)(store, exports)
        outcomes = []
        for use in (
            lambda: memory[0].read(kept[-1], 0, 4),
            lambda: memory[0].write(kept[-1], b"x", 0),
            lambda: memory[0].data_len(kept[-1]),
            lambda: memory[0].data_ptr(kept[-1]),
        ):
            outcomes.append(_outcome(use, 0))
        return outcomes

    _both(after_return)


def test_stock_callers_under_install_take_the_fast_path() -> None:
    # A Func made before install() keeps wasmtime-py's trampoline and its own Caller class.
    store = wasmtime.Store()
    seen: List[Any] = []

    def host(caller: Any, x: int) -> int:
        seen.append((type(caller), caller.get("memory").read(caller, 16, 21), caller["g"].value(caller)))
        seen.append(caller.get("nope"))
        with pytest.raises(KeyError, match="failed to find export nope"):
            caller["nope"]
        return x

    func = wasmtime.Func(store, wasmtime.FuncType([I32()], [I32()]), host, access_caller=True)
    exports = wasmtime.Instance(store, wasmtime.Module(store.engine, GUEST), [func]).exports(store)
    wasmjit.install()
    assert exports["run"](store, 3) == 3
    assert seen == [(wasmtime.Caller, bytearray(b"hello"), 42), None]


# Moving memories ----------------------------------------------------------------------


def test_unmodified_code_sees_every_byte_of_a_moving_memory() -> None:
    config = wasmtime.Config()
    config.memory_may_move = True
    config.memory_reservation = 0
    config.memory_reservation_for_growth = 0
    wasmjit.install()
    store = wasmtime.Store(wasmtime.Engine(config))
    bases = set()
    expected = bytearray()

    def host(caller: Any, n: int) -> int:
        memory = caller["memory"]
        assert memory.read(caller) == expected  # the whole memory, every byte
        assert memory.grow(caller, 1) == len(expected) // PAGE
        memory.write(caller, bytes([n]) * PAGE, len(expected))
        expected.extend(bytes([n]) * PAGE)
        assert memory.data_len(caller) == len(expected)
        bases.add(ctypes.addressof(memory.data_ptr(caller).contents))
        return n

    func = wasmtime.Func(store, wasmtime.FuncType([I32()], [I32()]), host, access_caller=True)
    exports = wasmtime.Instance(store, wasmtime.Module(store.engine, GUEST), [func]).exports(store)
    memory = exports["memory"]
    expected.extend(memory.read(store))
    for n in range(1, 9):
        assert exports["run"](store, n) == n
        exports["grow"](store, 1)  # wasm grows it too, between callbacks
        expected.extend(bytes(PAGE))
        assert memory.read(store) == expected
    assert len(bases) > 3


def test_install_and_uninstall_restore_every_method() -> None:
    originals = {(cls, name): cls.__dict__[name] for cls, name, _ in dropin._MEMORY_PATCHES}
    wasmjit.install()
    wasmjit.install()
    for (cls, name), original in originals.items():
        assert cls.__dict__[name] is not original
    wasmjit.uninstall()
    wasmjit.uninstall()
    for (cls, name), original in originals.items():
        assert cls.__dict__[name] is original


def test_a_wasmjit_view_blocks_wasmtime_py_grow_only_under_install() -> None:
    store, exports = _setup()
    memory = exports["memory"]
    mem = wasmjit.Memory(store, memory)
    with mem.view(0, 4):
        wasmjit.install()
        with pytest.raises(BufferError):
            memory.grow(store, 1)
        wasmjit.uninstall()
        assert memory.grow(store, 0) == 1  # growing by nothing never moves anything
    assert not jit_memory.views_held()
    wasmjit.install()
    assert memory.grow(store, 1) == 1


# Python code running in the middle of an access --------------------------------------

SNEAKY = '''
import codecs, ctypes, wasmtime, wasmjit

config = wasmtime.Config()
config.memory_may_move = True
config.memory_reservation = 0
config.memory_reservation_for_growth = 0
store = wasmtime.Store(wasmtime.Engine(config))
module = wasmtime.Module(store.engine, '(module (memory (export "memory") 1) (data (i32.const 16) "hello, wasm"))')
memory = wasmtime.Instance(store, module, []).exports(store)["memory"]
mem = wasmjit.Memory(store, memory)
moves = []

def grow():
    before = ctypes.addressof(memory.data_ptr(store).contents)
    memory.grow(store, 1)
    moves.append(ctypes.addressof(memory.data_ptr(store).contents) != before)

class Sneaky:
    """An index whose __index__ grows (and so moves) the memory."""
    def __init__(self, value):
        self.value = value
    def __index__(self):
        grow()
        return self.value

def values():
    grow()
    yield from b"HEY"

wasmjit.install()
mem.read(0, 1)  # the base is cached
print("read", bytes(memory.read(store, Sneaky(16), Sneaky(21))))
print("write", memory.write(store, b"J", Sneaky(16)), bytes(memory.read(store, 16, 21)))
print("write-iter", memory.write(store, values(), 16), bytes(memory.read(store, 16, 21)))
print("jit-read", mem.read(Sneaky(16), Sneaky(5)))
print("jit-write", mem.write(Sneaky(16), b"HELLO"), mem.read(16, 5))
codecs.register_error("wasmjit-test-grow", lambda error: (grow() or "?", error.end))
mem.write(100, b"ok\\xffok")
print("read_str", mem.read_str(100, 5, errors="wasmjit-test-grow"))
print("moved", sum(moves), "of", len(moves))
'''


def test_python_code_that_moves_the_memory_during_an_access() -> None:
    # A stale base would read freed (unmapped) memory: in a subprocess, so that a regression cannot crash pytest.
    run = subprocess.run([sys.executable, "-c", SNEAKY], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "read b'hello'"
    assert lines[1] == "write 1 b'Jello'"
    assert lines[2] == "write-iter 3 b'HEYlo'"
    assert lines[3] == "jit-read b'HEYlo'"
    assert lines[4] == "jit-write 5 b'HELLO'"
    assert lines[5] == "read_str ok?ok"
    moved, total = int(lines[6].split()[1]), int(lines[6].split()[3])
    assert total == 8 and moved >= 5, lines[6]
