"""wasmjit.Memory and Caller.memory(): bounds, buffers, growth and moves, views, stores, threads.

Every test runs real wasm on real wasmtime.  Memories that *move* when they
grow come from an engine configured with ``memory_may_move``, no
reservation and no room reserved for growth; the tests check that they did
move, and that every byte is still right afterwards.
"""

from __future__ import annotations

import array
import ctypes
import gc
import subprocess
import sys
import textwrap
import threading
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import wasmtime

import wasmjit
from wasmjit import i32, i64
from wasmjit.boundary import memories as jit_memory
from wasmjit.boundary import wasmtime_py

try:
    import numpy
except ImportError:  # pragma: no cover - numpy is optional
    numpy = None  # type: ignore[assignment]

needs_numpy = pytest.mark.skipif(numpy is None, reason="numpy is not installed")

PAGE = 65536

#: A module with one page of memory, some data, and exports to grow, load and store.
GUEST = """(module
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, wasm")
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))"""


def moving_engine(**extra: bool) -> wasmtime.Engine:
    """An engine whose memories move whenever they grow."""
    config = wasmtime.Config()
    config.memory_may_move = True
    config.memory_reservation = 0
    config.memory_reservation_for_growth = 0
    for name, value in extra.items():
        setattr(config, name, value)
    return wasmtime.Engine(config)


def instantiate(store: wasmtime.Store, wat: str, imports: Sequence[Any] = ()) -> Dict[str, Any]:
    module = wasmtime.Module(store.engine, wat)
    instance = wasmtime.Instance(store, module, list(imports))
    return dict(instance.exports(store))


def base_of(store: Any, memory: wasmtime.Memory) -> int:
    return ctypes.addressof(memory.data_ptr(store).contents)


def pattern(size: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) & 0xFF for i in range(size))


@pytest.fixture
def guest(store: wasmtime.Store) -> Tuple[wasmtime.Store, Dict[str, Any], wasmjit.Memory]:
    exports = instantiate(store, GUEST)
    return store, exports, wasmjit.Memory(store, exports["memory"])


# Basics -------------------------------------------------------------------------------


def test_read_write_and_sizes(guest: Any) -> None:
    store, exports, mem = guest
    assert mem.read(16, 11) == b"hello, wasm"
    assert type(mem.read(16, 11)) is bytes
    assert mem.read_str(16, 11) == "hello, wasm"
    assert mem.size == len(mem) == PAGE
    assert mem.pages == 1
    assert mem.page_size == PAGE
    assert mem.write(16, b"HELLO") == 5
    assert exports["memory"].read(store, 16, 27) == b"HELLO, wasm"
    assert exports["load"](store, 16) == ord("H")
    exports["store"](store, 20, ord("!"))
    assert mem.read(16, 5) == b"HELL!"
    assert mem.read(0, 0) == b""
    assert "65536 bytes" in repr(mem)


def test_read_str_decodes_utf8_and_reports_bad_bytes(guest: Any) -> None:
    _, _, mem = guest
    text = "héllo, wörld ✓"
    data = text.encode()
    mem.write(100, data)
    assert mem.read_str(100, len(data)) == text
    mem.write(200, b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        mem.read_str(200, 2)
    assert mem.read_str(200, 2, errors="replace") == "\ufffd\ufffd"


def test_grow_returns_previous_pages(guest: Any) -> None:
    store, exports, mem = guest
    assert mem.grow(2) == 1
    assert mem.pages == 3 and mem.size == 3 * PAGE
    assert exports["size"](store) == 3
    assert mem.grow(0) == 3
    with pytest.raises(wasmtime.WasmtimeError, match="negative"):
        mem.grow(-1)
    with pytest.raises(wasmtime.WasmtimeError):
        mem.grow(1 << 64)
    with pytest.raises(TypeError):
        mem.grow("1")  # type: ignore[arg-type]


def test_grow_beyond_the_maximum_raises(store: wasmtime.Store) -> None:
    exports = instantiate(store, '(module (memory (export "memory") 1 2))')
    mem = wasmjit.Memory(store, exports["memory"])
    assert mem.grow(1) == 1
    with pytest.raises(wasmtime.WasmtimeError):
        mem.grow(1)
    assert mem.pages == 2


def test_memory_property_is_the_same_memory(guest: Any) -> None:
    store, _, mem = guest
    same = mem.memory
    assert isinstance(same, wasmtime.Memory)
    assert same.read(store, 16, 27) == b"hello, wasm"


def test_a_memory_made_by_wasmtime_py(store: wasmtime.Store) -> None:
    made = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None)))
    mem = wasmjit.Memory(store, made)
    mem.write(PAGE - 4, b"tail")
    assert made.read(store, PAGE - 4, PAGE) == b"tail"


# Buffers ------------------------------------------------------------------------------


def test_write_accepts_every_buffer(guest: Any) -> None:
    store, exports, mem = guest
    words = array.array("i", [1, -2, 3])
    cases: List[Tuple[Any, bytes]] = [
        (b"bytes", b"bytes"),
        (bytearray(b"bytearray"), b"bytearray"),
        (memoryview(b"a memoryview"), b"a memoryview"),
        (memoryview(b"0123456789")[2:8], b"234567"),
        (memoryview(b"0123456789")[::3], b"0369"),  # strided
        (words, words.tobytes()),
        (memoryview(words).cast("B").cast("i"), words.tobytes()),
        ((ctypes.c_uint16 * 3)(1, 2, 0xFFFF), bytes((ctypes.c_uint16 * 3)(1, 2, 0xFFFF))),
        (b"", b""),
    ]
    for data, expected in cases:
        assert mem.write(300, data) == len(expected)
        assert exports["memory"].read(store, 300, 300 + len(expected)) == expected
    for not_a_buffer in ("text", 12, [1, 2], None):
        with pytest.raises(TypeError):
            mem.write(0, not_a_buffer)


def test_read_into_every_writable_buffer(guest: Any) -> None:
    _, _, mem = guest
    mem.write(400, pattern(64))
    target = bytearray(16)
    assert mem.read_into(400, target) == 16 and target == pattern(64)[:16]
    words = array.array("I", [0] * 4)
    assert mem.read_into(400, words) == 16 and words.tobytes() == pattern(64)[:16]
    backing = bytearray(32)
    assert mem.read_into(400, memoryview(backing)[8:24]) == 16 and backing[8:24] == pattern(64)[:16]
    strided = bytearray(8)
    assert mem.read_into(400, memoryview(strided)[::2]) == 4 and strided[::2] == pattern(64)[:4]
    c_array = (ctypes.c_uint8 * 8)()
    assert mem.read_into(400, c_array) == 8 and bytes(c_array) == pattern(64)[:8]
    assert mem.read_into(400, bytearray()) == 0
    for read_only in (b"12345678", memoryview(bytearray(8)).toreadonly()):
        with pytest.raises(TypeError, match="writable"):
            mem.read_into(400, read_only)
    with pytest.raises(TypeError):
        mem.read_into(400, "text")


@needs_numpy
def test_numpy_arrays(guest: Any) -> None:
    _, _, mem = guest
    values = numpy.arange(12, dtype=numpy.int32).reshape(3, 4)
    assert mem.write(512, values) == 48
    assert mem.read(512, 48) == values.tobytes()
    back = numpy.zeros((3, 4), dtype=numpy.int32)
    assert mem.read_into(512, back) == 48
    assert (back == values).all()
    fortran = numpy.asfortranarray(values)
    assert mem.write(1024, fortran) == 48 and mem.read(1024, 48) == fortran.tobytes()
    column = values[:, 1]  # not contiguous: copied in C order
    assert mem.write(2048, column) == 12 and mem.read(2048, 12) == column.tobytes()
    floats = numpy.zeros(3, dtype=numpy.float64)
    mem.write(4096, numpy.array([1.5, -2.0, 3.25]))
    mem.read_into(4096, floats)
    assert floats.tolist() == [1.5, -2.0, 3.25]
    column_target = numpy.zeros((4, 4), dtype=numpy.uint8)
    assert mem.read_into(512, column_target[:, 1]) == 4  # a strided byte target is filled element by element
    assert column_target[:, 1].tobytes() == mem.read(512, 4)
    for not_c_contiguous in (numpy.zeros((4, 4), dtype=numpy.int32)[:, :2], numpy.zeros((3, 4), order="F")):
        with pytest.raises(TypeError, match="C-contiguous"):
            mem.read_into(0, not_c_contiguous)


# Bounds -------------------------------------------------------------------------------

SIZE = PAGE
#: (ptr, n) pairs outside a one-page memory, and what the message must say.
OUTSIDE = [
    (-1, 1),
    (-1, 0),
    (0, -1),
    (SIZE, 1),
    (SIZE - 1, 2),
    (SIZE + 1, 0),
    (1, SIZE),
    (0, SIZE + 1),
    (1 << 32, 1),
    (1 << 63, 1),
    ((1 << 64) - 1, 1),
    (1 << 64, 0),
    (-(1 << 64), 1 << 64),
    (SIZE - 8, 1 << 64),
]
INSIDE = [(0, 0), (0, SIZE), (SIZE, 0), (SIZE - 1, 1), (SIZE - 32, 32), (12345, 0)]


def _checksum(store: wasmtime.Store, memory: wasmtime.Memory) -> bytes:
    return bytes(memory.read(store, 0, memory.data_len(store)))


@pytest.mark.parametrize(("ptr", "n"), OUTSIDE)
def test_every_access_outside_the_memory_raises_naming_ptr_n_and_size(guest: Any, ptr: int, n: int) -> None:
    store, exports, mem = guest
    before = _checksum(store, exports["memory"])
    accesses = [
        lambda: mem.read(ptr, n),
        lambda: mem.read_str(ptr, n),
        lambda: mem.view(ptr, n).__enter__(),
    ]
    if n >= 0 and n <= 1 << 20:
        accesses += [lambda: mem.write(ptr, b"x" * n), lambda: mem.read_into(ptr, bytearray(n))]
    for access in accesses:
        with pytest.raises(wasmjit.OutOfBounds) as raised:
            access()
        error = raised.value
        assert isinstance(error, IndexError)
        assert (error.ptr, error.n, error.size) == (ptr, n, SIZE)
        message = str(error)
        assert f"ptr={ptr}" in message and f"n={n}" in message and str(SIZE) in message
    assert _checksum(store, exports["memory"]) == before
    assert not jit_memory.views_held()


@pytest.mark.parametrize(("ptr", "n"), INSIDE)
def test_accesses_up_to_the_last_byte_work(guest: Any, ptr: int, n: int) -> None:
    store, exports, mem = guest
    data = pattern(n, seed=ptr)
    assert mem.write(ptr, data) == n
    assert mem.read(ptr, n) == data
    assert exports["memory"].read(store, ptr, ptr + n) == data
    target = bytearray(n)
    assert mem.read_into(ptr, target) == n and target == data
    with mem.view(ptr, n) as view:
        assert view.nbytes == n and bytes(view) == data


@needs_numpy
def test_numpy_integers_cannot_wrap_around(guest: Any) -> None:
    _, _, mem = guest
    top = numpy.uint64((1 << 64) - 1)
    with pytest.raises(wasmjit.OutOfBounds):
        mem.read(top, 1)
    with pytest.raises(wasmjit.OutOfBounds):
        mem.read(numpy.int64(-1), numpy.uint8(1))
    with pytest.raises(wasmjit.OutOfBounds):
        mem.write(top, b"x")
    assert mem.read(numpy.int32(16), numpy.int64(5)) == b"hello"


def test_pointers_must_be_integers(guest: Any) -> None:
    _, _, mem = guest
    for bad in (1.0, "1", None, b"\x01"):
        with pytest.raises(TypeError):
            mem.read(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            mem.read(0, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            mem.write(bad, b"x")  # type: ignore[arg-type]
    assert mem.read(True, 1) == mem.read(1, 1)


# Stores -------------------------------------------------------------------------------


def test_a_closed_store_raises_value_error(guest: Any) -> None:
    store, exports, mem = guest
    store.close()
    for use in (
        lambda: mem.read(0, 1),
        lambda: mem.read_str(0, 1),
        lambda: mem.read_into(0, bytearray(1)),
        lambda: mem.write(0, b"x"),
        lambda: mem.size,
        lambda: len(mem),
        lambda: mem.pages,
        lambda: mem.page_size,
        lambda: mem.grow(1),
        lambda: mem.view(0, 1).__enter__(),
    ):
        with pytest.raises(ValueError, match="store is closed"):
            use()
    assert "invalid" in repr(mem)
    with pytest.raises(ValueError, match="closed"):
        wasmjit.Memory(store, exports["memory"])


def test_wrong_arguments(store: wasmtime.Store) -> None:
    exports = instantiate(store, GUEST)
    with pytest.raises(TypeError, match=r"wasmtime\.Memory"):
        wasmjit.Memory(store, exports["grow"])
    with pytest.raises(TypeError, match="Store or a Caller"):
        wasmjit.Memory(object(), exports["memory"])
    shared_engine = wasmtime.Engine(_config(wasm_threads=True, shared_memory=True))
    shared_store = wasmtime.Store(shared_engine)
    shared = wasmtime.SharedMemory(shared_engine, wasmtime.MemoryType(wasmtime.Limits(1, 1), shared=True))
    with pytest.raises(TypeError):
        wasmjit.Memory(shared_store, shared)  # type: ignore[arg-type]


def _config(**options: bool) -> wasmtime.Config:
    config = wasmtime.Config()
    for name, value in options.items():
        setattr(config, name, value)
    return config


def test_a_memory_of_another_store_is_refused_not_a_crash() -> None:
    # wasmtime aborts the process when a memory is used with another store:
    # run it in a subprocess so that a regression cannot take pytest down.
    script = textwrap.dedent(
        """
        import wasmtime, wasmjit
        a, b = wasmtime.Store(), wasmtime.Store()
        memory = wasmtime.Memory(a, wasmtime.MemoryType(wasmtime.Limits(1, None)))
        try:
            wasmjit.Memory(b, memory)
        except ValueError as error:
            print("refused:", error)
        a.close()
        c = wasmtime.Store()
        try:
            wasmjit.Memory(c, memory)
        except ValueError as error:
            print("refused:", error)
        print("alive")
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("refused: this memory belongs to another store") == 2
    assert "alive" in run.stdout


def test_store_identity_probe_matches_wasmtime_structures(store: wasmtime.Store) -> None:
    made = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None)))
    handle = wasmtime_py.memory_handle(made)
    context = wasmtime_py.store_context(store)
    assert jit_memory.store_id(context) == handle._anon_1.store_id
    assert jit_memory.store_id(context) != jit_memory.store_id(wasmtime_py.store_context(wasmtime.Store()))


def test_private_attributes_exist_on_live_objects(store: wasmtime.Store) -> None:
    made = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None)))
    assert wasmtime_py.MEMORY_HANDLE_ATTRIBUTE in vars(made)
    seen: List[Dict[str, Any]] = []

    def host(caller: Any) -> None:
        seen.append(dict(vars(caller)))

    func = wasmtime.Func(store, wasmtime.FuncType([], []), host, access_caller=True)
    wasmjit.uninstall()
    exports = instantiate(store, '(module (import "" "f" (func $f)) (func (export "run") (call $f)))', [func])
    exports["run"](store)
    assert wasmtime_py.CALLER_POINTER_ATTRIBUTE in seen[0]
    assert wasmtime_py.CALLER_CONTEXT_ATTRIBUTE in seen[0]


# Growth and moves ---------------------------------------------------------------------


def test_every_way_of_growing_moves_the_memory_and_keeps_every_byte() -> None:
    store = wasmtime.Store(moving_engine())
    exports = instantiate(store, GUEST)
    memory = exports["memory"]
    mem = wasmjit.Memory(store, memory)
    other = wasmjit.Memory(store, memory)  # a second object of the same memory
    growers = [
        lambda: mem.grow(1),
        lambda: other.grow(1),
        lambda: memory.grow(store, 1),
        lambda: exports["grow"](store, 1),
        lambda: wasmjit.typed(store, exports["grow"])(1),
    ]
    expected = bytearray(memory.read(store))
    bases = {base_of(store, memory)}
    for round_, grow in enumerate(growers * 2):
        mem.read(0, 1)  # the cached base is the current one
        grow()
        expected += bytes(PAGE)
        bases.add(base_of(store, memory))
        assert mem.size == other.size == len(expected)
        assert mem.read(0, len(expected)) == expected
        # the new last page is usable at once, through both objects
        last = len(expected) - PAGE
        data = pattern(PAGE, seed=round_)
        assert other.write(last, data) == PAGE
        expected[last:] = data
        assert mem.read(last, PAGE) == data
        assert exports["load"](store, len(expected) - 1) == data[-1]
        with pytest.raises(wasmjit.OutOfBounds):
            mem.read(len(expected), 1)
    assert len(bases) > 5, "the memory was expected to move when it grew"


def test_one_byte_pages_grow_a_byte_at_a_time() -> None:
    store = wasmtime.Store(moving_engine(wasm_custom_page_sizes=True))
    made = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None), page_size_log2=0))
    mem = wasmjit.Memory(store, made)
    assert mem.page_size == 1 and mem.size == 1
    for size in range(1, 40):
        assert mem.size == size
        mem.write(size - 1, bytes([size]))
        with pytest.raises(wasmjit.OutOfBounds):
            mem.write(size, b"x")
        assert mem.grow(1) == size
    assert mem.read(0, 39) == bytes(range(1, 40))


MEMORY_GROWING_HOST = """(module
  (import "host" "f" (func $f (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "run") (param $n i32) (result i32)
    (local $sum i32)
    (loop $again
      (if (local.get $n)
        (then
          ;; wasm grows the memory between two calls of the host function
          (drop (memory.grow (i32.const 1)))
          (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (local.get $n))
          (local.set $sum (i32.add (local.get $sum) (call $f (local.get $n))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again))))
    (local.get $sum)))"""


def test_growth_inside_callbacks_and_typed_calls_with_a_moving_memory(backend: str) -> None:
    store = wasmtime.Store(moving_engine())
    bases: List[int] = []
    checked: List[int] = []
    grow_export: List[Any] = []

    def host(caller: wasmjit.Caller, n: i32) -> i32:
        mem = caller.memory()
        size = mem.size
        # the byte wasm just stored at the end of the grown memory
        assert mem.read(size - 1, 1) == bytes([n & 0xFF])
        # the callback grows the memory itself, then uses the new page
        assert mem.grow(1) == size // PAGE
        mem.write(size, pattern(PAGE, seed=n))
        assert mem.read(size, PAGE) == pattern(PAGE, seed=n)
        # and calls back into wasm, which grows it once more, before reading again
        assert grow_export[0](1) == size // PAGE + 1
        assert mem.size == size + 2 * PAGE
        assert mem.read(size, PAGE) == pattern(PAGE, seed=n)
        assert mem.read(size + PAGE, PAGE) == bytes(PAGE)
        bases.append(ctypes.addressof(caller["memory"].data_ptr(caller).contents))
        checked.append(n)
        return n

    func = wasmjit.Function.from_callback(store, host, backend=backend)
    exports = instantiate(store, MEMORY_GROWING_HOST, [func])
    grow_export.append(wasmjit.typed(store, exports["grow"], backend=backend))
    run = wasmjit.typed(store, exports["run"], backend=backend)
    assert run(6) == sum(range(1, 7))
    assert checked == [6, 5, 4, 3, 2, 1]
    assert len(set(bases)) > 1, "the memory was expected to move"
    # every page each callback wrote is intact after all the moves
    mem = wasmjit.Memory(store, exports["memory"])
    assert mem.pages == 1 + 6 * 3
    for index, n in enumerate(checked):
        start = (1 + index * 3 + 1) * PAGE  # wasm's page, then the callback's
        assert mem.read(start, PAGE) == pattern(PAGE, seed=n)


def test_caller_memory_outlives_nothing(store: wasmtime.Store, backend: str) -> None:
    kept: List[Any] = []

    def host(caller: wasmjit.Caller, n: i32) -> i32:
        mem = caller.memory()
        kept.append((caller, mem))
        return mem.read(0, 1)[0]

    exports = instantiate(store, MEMORY_GROWING_HOST, [wasmjit.Function.from_callback(store, host, backend=backend)])
    exports["run"](store, 1)
    caller, mem = kept[0]
    for use in (lambda: mem.read(0, 1), lambda: mem.write(0, b"x"), lambda: mem.size, lambda: mem.grow(1)):
        with pytest.raises(ValueError, match="no longer valid"):
            use()
    with pytest.raises(ValueError, match="no longer valid"):
        caller.memory()
    assert "invalid" in repr(mem)


def test_caller_memory_errors(store: wasmtime.Store) -> None:
    outcomes: List[Any] = []

    def host(caller: wasmjit.Caller, n: i32) -> i32:
        for name in ("nothing", "grow", ""):
            try:
                caller.memory(name)
            except (KeyError, TypeError) as error:
                outcomes.append((type(error), str(error)))
        try:
            caller.memory(b"memory")  # type: ignore[arg-type]
        except TypeError as error:
            outcomes.append((TypeError, str(error)))
        named = caller.memory("memory")
        assert named.size == caller.memory().size
        return 0

    exports = instantiate(store, MEMORY_GROWING_HOST, [wasmjit.Function.from_callback(store, host)])
    exports["run"](store, 1)
    assert outcomes[0][0] is KeyError and "'nothing'" in outcomes[0][1]
    assert outcomes[1][0] is TypeError and "'grow'" in outcomes[1][1] and "Func" in outcomes[1][1]
    assert outcomes[2][0] is KeyError
    assert outcomes[3][0] is TypeError and "str" in outcomes[3][1]


def test_memory_of_a_caller_with_wasmjit_memory(store: wasmtime.Store) -> None:
    seen: List[bytes] = []

    def host(caller: wasmjit.Caller, n: i32) -> i32:
        mem = wasmjit.Memory(caller, caller["memory"])
        mem.write(0, b"via caller")
        seen.append(mem.read(0, 10))
        return 0

    exports = instantiate(store, MEMORY_GROWING_HOST, [wasmjit.Function.from_callback(store, host)])
    exports["run"](store, 1)
    assert seen == [b"via caller"]


# Several instances --------------------------------------------------------------------

TWO_INSTANCES = """(module
  (import "host" "peek" (func $peek (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{text}")
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "run") (result i32) (call $peek (i32.const 0) (i32.const {length}))))"""


def _peek(caller: wasmjit.Caller, ptr: i32, n: i32) -> i32:
    mem = caller.memory()
    text = mem.read(ptr, n)
    mem.write(mem.size - n, text.upper())  # each instance writes into its own memory
    return sum(text) + mem.pages


@pytest.mark.parametrize("how", ["wasmjit.Linker", "wasmtime.Linker"])
def test_instances_behind_one_linker_each_read_their_own_memory(backend: str, how: str) -> None:
    engine = moving_engine()
    if how == "wasmjit.Linker":
        linker: wasmtime.Linker = wasmjit.Linker(engine)
        linker.define_callback("host", "peek", _peek, backend=backend)  # type: ignore[attr-defined]
    else:
        linker = wasmtime.Linker(engine)
    store = wasmtime.Store(engine)
    if how == "wasmtime.Linker":
        linker.define(store, "host", "peek", wasmjit.Function.from_callback(store, _peek, backend=backend))
    texts = ["first instance", "second one", "third!"]
    modules = [wasmtime.Module(engine, TWO_INSTANCES.format(text=text, length=len(text))) for text in texts]
    instances = [linker.instantiate(store, module) for module in modules]
    runs = [wasmjit.typed(store, inst.exports(store)["run"]) for inst in instances]
    grows = [wasmjit.typed(store, inst.exports(store)["grow"]) for inst in instances]
    for round_ in range(3):
        if round_:
            for grow in grows:  # memories move between rounds
                grow(1)
        for index, text in enumerate(texts):
            assert runs[index]() == sum(text.encode()) + 1 + round_
    for inst, text in zip(instances, texts, strict=True):
        memory = inst.exports(store)["memory"]
        end = memory.data_len(store)
        assert memory.read(store, end - len(text), end) == text.upper().encode()
        assert memory.read(store, 0, len(text)) == text.encode()


def test_an_imported_memory_is_read_through_the_instance_that_imports_it(store: wasmtime.Store) -> None:
    owner = instantiate(store, '(module (memory (export "memory") 1) (data (i32.const 8) "shared bytes"))')
    user_text = """(module
      (import "env" "memory" (memory 1))
      (import "host" "peek" (func $peek (param i32 i32) (result i32)))
      (export "mem" (memory 0))
      (func (export "run") (result i32) (call $peek (i32.const 8) (i32.const 12))))"""
    seen: List[bytes] = []

    def peek(caller: wasmjit.Caller, ptr: i32, n: i32) -> i32:
        seen.append(caller.memory("mem").read(ptr, n))
        with pytest.raises(KeyError):
            caller.memory()
        return 0

    user = instantiate(store, user_text, [owner["memory"], wasmjit.Function.from_callback(store, peek)])
    user["run"](store)
    assert seen == [b"shared bytes"]


# 64-bit memories ----------------------------------------------------------------------


def test_a_64_bit_memory() -> None:
    config = _config(wasm_memory64=True, memory_may_move=True)
    config.memory_reservation = 0
    config.memory_reservation_for_growth = 0
    store = wasmtime.Store(wasmtime.Engine(config))
    text = """(module
      (import "host" "f" (func $f (param i64 i64) (result i64)))
      (memory (export "memory") i64 1)
      (data (i64.const 40) "sixty-four")
      (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
      (func (export "run") (param i64 i64) (result i64) (call $f (local.get 0) (local.get 1))))"""
    seen: List[bytes] = []

    def host(caller: wasmjit.Caller, ptr: i64, n: i64) -> i64:
        mem = caller.memory()
        try:
            seen.append(mem.read(ptr, n))
        except wasmjit.OutOfBounds as error:
            seen.append(str(error).encode())
        return mem.size

    exports = instantiate(store, text, [wasmjit.Function.from_callback(store, host)])
    memory = exports["memory"]
    assert memory.type(store).is_64
    run = wasmjit.typed(store, exports["run"])
    assert run(40, 10) == PAGE
    assert run(1 << 40, 1) == PAGE
    assert run(-1, 1) == PAGE  # an i64 of -1 is 2**64 - 1 for wasm; negative for the host: refused
    assert seen[0] == b"sixty-four"
    assert b"ptr=1099511627776" in seen[1]
    assert b"out of bounds" in seen[2]
    mem = wasmjit.Memory(store, memory)
    assert mem.grow(3) == 1
    mem.write(4 * PAGE - 10, b"0123456789")
    assert mem.read(40, 10) == b"sixty-four"
    assert run(4 * PAGE - 10, 10) == 4 * PAGE
    assert seen[3] == b"0123456789"


# Views --------------------------------------------------------------------------------


def test_a_view_writes_through_and_is_released() -> None:
    store = wasmtime.Store(moving_engine())
    exports = instantiate(store, GUEST)
    mem = wasmjit.Memory(store, exports["memory"])
    with mem.view(16, 5) as view:
        assert bytes(view) == b"hello" and not view.readonly and view.format == "B"
        view[0] = ord("J")
        view[1:3] = b"EE"
    assert mem.read(16, 5) == b"JEElo"
    with pytest.raises(ValueError):
        view[0]  # released
    assert not jit_memory.views_held()
    assert mem.grow(1) == 1  # allowed again


def test_a_grow_while_a_view_is_held_raises_and_keeps_the_memory() -> None:
    store = wasmtime.Store(moving_engine())
    exports = instantiate(store, GUEST)
    memory = exports["memory"]
    mem = wasmjit.Memory(store, memory)
    other = wasmjit.Memory(store, memory)
    wasmjit.install()
    try:
        with mem.view(0, 32) as view:
            for grow in (lambda: mem.grow(1), lambda: other.grow(1), lambda: memory.grow(store, 1)):
                with pytest.raises(BufferError, match="view"):
                    grow()
            assert mem.pages == 1
            view[0] = 7
    finally:
        wasmjit.uninstall()
    assert mem.read(0, 1) == b"\x07"
    assert mem.grow(1) == 1


def test_a_view_derived_from_a_view_must_not_outlive_the_block() -> None:
    store = wasmtime.Store(moving_engine())
    mem = wasmjit.Memory(store, instantiate(store, GUEST)["memory"])
    derived: List[Any] = []
    with pytest.raises(BufferError, match="still alive"):
        with mem.view(16, 11) as view:
            derived.append(view[0:5])
    assert jit_memory.views_held()
    with pytest.raises(BufferError, match="view"):
        mem.grow(1)
    assert bytes(derived[0]) == b"hello"  # still the memory, which did not move
    derived.clear()
    gc.collect()
    assert mem.grow(1) == 1
    assert not jit_memory.views_held()


@needs_numpy
def test_a_numpy_array_over_a_view() -> None:
    store = wasmtime.Store(moving_engine())
    mem = wasmjit.Memory(store, instantiate(store, GUEST)["memory"])
    with mem.view(1024, 16) as view:
        array_ = numpy.frombuffer(view, dtype=numpy.uint32)
        array_[:] = [1, 2, 3, 4]
        del array_
    assert mem.read(1024, 16) == numpy.array([1, 2, 3, 4], dtype=numpy.uint32).tobytes()
    kept: List[Any] = []
    with pytest.raises(BufferError):
        with mem.view(1024, 16) as view:
            kept.append(numpy.frombuffer(view, dtype=numpy.uint8))
    with pytest.raises(BufferError):
        mem.grow(1)
    kept.clear()
    assert mem.grow(1) == 1


def test_the_block_own_exception_is_not_hidden() -> None:
    store = wasmtime.Store(moving_engine())
    mem = wasmjit.Memory(store, instantiate(store, GUEST)["memory"])
    derived: List[Any] = []
    with pytest.raises(KeyError):
        with mem.view(0, 4) as view:
            derived.append(view[1:])
            raise KeyError("mine")
    derived.clear()
    assert mem.grow(1) == 1


def test_wasm_moving_the_memory_under_a_view_is_reported() -> None:
    store = wasmtime.Store(moving_engine())
    exports = instantiate(store, GUEST)
    mem = wasmjit.Memory(store, exports["memory"])
    with pytest.raises(BufferError, match="moved"):
        with mem.view(0, 8) as view:
            exports["grow"](store, 1)  # wasm cannot be refused
            del view
    assert mem.pages == 2


def test_a_view_is_used_once(guest: Any) -> None:
    _, _, mem = guest
    lender = mem.view(0, 4)
    with lender:
        with pytest.raises(RuntimeError):
            lender.__enter__()
    with lender as again:
        assert again.nbytes == 4


def test_a_view_after_the_store_closed(guest: Any) -> None:
    store, _, mem = guest
    with mem.view(0, 4) as view:
        assert view.nbytes == 4
    store.close()
    with pytest.raises(ValueError, match="closed"):
        with mem.view(0, 4):
            pass


# Cores and caching --------------------------------------------------------------------


def test_cores_are_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit_memory, "CORES_KEPT", 4)
    monkeypatch.setattr(jit_memory, "_cores", {})
    stores = [wasmtime.Store() for _ in range(10)]
    mems = []
    for index, store in enumerate(stores):
        exports = instantiate(store, GUEST)
        mem = wasmjit.Memory(store, exports["memory"])
        mem.write(0, bytes([index]))
        mems.append((store, exports, mem))
    assert len(jit_memory._cores) <= 4
    for index, (store, exports, mem) in enumerate(mems):
        assert mem.read(0, 1) == bytes([index])
        # a fresh object finds (or rebuilds) a core with the right base
        assert wasmjit.Memory(store, exports["memory"]).read(0, 1) == bytes([index])
        exports["grow"](store, 1)
        assert wasmjit.Memory(store, exports["memory"]).size == 2 * PAGE
    first = mems[0]
    assert jit_memory.core_of(first[1]["memory"]) is jit_memory.core_of(first[1]["memory"])


def test_a_memory_identity_is_never_reused_across_stores() -> None:
    keys = set()
    for _ in range(20):
        store = wasmtime.Store()
        exports = instantiate(store, GUEST)
        keys.add(jit_memory.core_of(exports["memory"]).key)
        store.close()
        gc.collect()
    assert len(keys) == 20


def test_small_accesses_make_one_ffi_call(monkeypatch: pytest.MonkeyPatch, guest: Any) -> None:
    store, exports, mem = guest
    calls: List[str] = []
    real_size, real_data = jit_memory._data_size, jit_memory._data

    def size(context: int, address: int) -> int:
        calls.append("size")
        return int(real_size(context, address))

    def data(context: int, address: int) -> int:
        calls.append("data")
        return int(real_data(context, address))

    monkeypatch.setattr(jit_memory, "_data_size", size)
    monkeypatch.setattr(jit_memory, "_data", data)
    mem.read(0, 4)
    calls.clear()
    mem.read(0, 4)
    mem.write(0, b"abcd")
    mem.read_into(0, bytearray(4))
    assert calls == ["size"] * 3
    exports["grow"](store, 1)
    calls.clear()
    mem.read(0, 4)
    assert calls == ["size", "data"]


# Threads ------------------------------------------------------------------------------


def test_threads_each_with_their_own_store(backend: str) -> None:
    errors: List[BaseException] = []
    barrier = threading.Barrier(4)

    def work(seed: int) -> None:
        try:
            store = wasmtime.Store(moving_engine())
            text = TWO_INSTANCES.format(text=f"thread {seed}", length=len(f"thread {seed}"))
            exports = instantiate(store, text, [wasmjit.Function.from_callback(store, _peek, backend=backend)])
            run = wasmjit.typed(store, exports["run"])
            mem = wasmjit.Memory(store, exports["memory"])
            barrier.wait()
            for round_ in range(200):
                assert run() == sum(f"thread {seed}".encode()) + 1 + round_ // 50
                data = pattern(256, seed=seed + round_)
                mem.write(1000, data)
                assert mem.read(1000, 256) == data
                if round_ % 50 == 49:
                    mem.grow(1)
        except BaseException as error:  # report it in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
