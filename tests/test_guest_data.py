"""Guest data: ``wasmjit.Str``/``wasmjit.Bytes`` and ``Guest(...)`` across the boundary.

Every marker as a callback parameter and result and as a typed call's
argument and result, on every backend, checked against the same work done
with stock wasmtime-py on the same module; memories that grow and move
inside callbacks; two instances behind one linker; bounds, encoding and
missing-export errors; an allocator that re-enters wasm.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from typing import Annotated, Callable, List, Tuple

import pytest
import wasmtime

import wasmjit
from wasmjit import Bytes, Guest, Str, i32

MALLOC = Guest(alloc="malloc")
FREEING = Guest(alloc="malloc", free="free")

# A module with a bump allocator (``malloc``, ``cabi_realloc``), a counting
# ``free``, host imports taking and returning guest data, and exports that
# take and return (ptr, len) pairs.
WAT = r"""
(module
  (import "host" "log" (func $log (param i32 i32)))
  (import "host" "log2" (func $log2 (param i32 i32 i32 i32 i32) (result i32)))
  (import "host" "greet" (func $greet (param i32 i32) (result i32 i32)))
  (import "host" "both" (func $both (param i32 i32) (result i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $freed (mut i32) (i32.const 0))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32) (local $need i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    ;; grow when the heap runs past the end: the memory may move
    (local.set $need (i32.sub (i32.shr_u (i32.add (global.get $heap) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (local.get $p))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (call $malloc (local.get 3)))
  (func (export "free") (param i32) (global.set $freed (i32.add (global.get $freed) (i32.const 1))))
  (func (export "freed") (result i32) (global.get $freed))
  (func (export "heap_top") (result i32) (global.get $heap))
  (func (export "reset") (global.set $heap (i32.const 4096)))
  (func (export "call_log") (param i32 i32) (call $log (local.get 0) (local.get 1)))
  (func (export "call_log2") (param i32 i32 i32 i32 i32) (result i32)
    (call $log2 (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "call_greet") (param i32 i32) (result i32 i32) (call $greet (local.get 0) (local.get 1)))
  (func (export "call_both") (param i32 i32) (result i32 i32 i32) (call $both (local.get 0) (local.get 1)))
  (func (export "length") (param i32 i32) (result i32) (local.get 1))
  (func (export "echo") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)
"""

TEXTS = ["", "a", "hello, world", "héllo ☃ 𝄞 \u0000 end", "x" * 1000]


def moving_store() -> wasmtime.Store:
    """A store whose memories move when they grow (no reservation to grow into)."""
    config = wasmtime.Config()
    config.memory_may_move = True
    config.memory_reservation = 0
    config.memory_guard_size = 0
    return wasmtime.Store(wasmtime.Engine(config))


class Host:
    """The host functions, written once with wasmjit markers."""

    def __init__(self) -> None:
        self.seen: List[object] = []

    def log(self, msg: Str) -> None:
        self.seen.append(msg)

    def log2(self, tag: i32, a: Bytes, b: Str) -> i32:
        self.seen.append((tag, a, b))
        return tag + len(a) + len(b)

    def greet(self, name: Str) -> Annotated[str, MALLOC]:
        return f"Hello, {name}!"

    def both(self, data: Bytes) -> Tuple[i32, Annotated[bytes, MALLOC]]:
        return len(data), data[::-1]


def instantiate(store: wasmtime.Store, host: Host, backend: str) -> wasmtime.Instance:
    linker = wasmjit.Linker(store.engine)
    for name in ("log", "log2", "greet", "both"):
        linker.define_callback("host", name, getattr(host, name), backend=backend)
    return linker.instantiate(store, wasmtime.Module(store.engine, WAT))


def put(store: wasmtime.Store, instance: wasmtime.Instance, data: bytes) -> Tuple[int, int]:
    """Stock wasmtime-py: allocate in the guest and copy ``data`` there."""
    exports = instance.exports(store)
    ptr = exports["malloc"](store, len(data))
    exports["memory"].write(store, data, ptr)
    return ptr, len(data)


def get(store: wasmtime.Store, instance: wasmtime.Instance, ptr: int, n: int) -> bytes:
    return bytes(instance.exports(store)["memory"].read(store, ptr, ptr + n))


# Callbacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_callback_parameters_read_the_callers_memory(backend, text):
    store, host = wasmtime.Store(), Host()
    instance = instantiate(store, host, backend)
    exports = instance.exports(store)
    ptr, n = put(store, instance, text.encode())
    exports["call_log"](store, ptr, n)
    blob = bytes(range(256)) * 3
    bptr, bn = put(store, instance, blob)
    assert exports["call_log2"](store, 7, bptr, bn, ptr, n) == 7 + len(blob) + len(text)
    assert host.seen == [text, (7, blob, text)]
    assert type(host.seen[1][1]) is bytes


@pytest.mark.parametrize("text", TEXTS)
def test_callback_results_are_copied_through_the_allocator(backend, text):
    store, host = wasmtime.Store(), Host()
    instance = instantiate(store, host, backend)
    exports = instance.exports(store)
    ptr, n = put(store, instance, text.encode())
    out_ptr, out_n = exports["call_greet"](store, ptr, n)
    assert get(store, instance, out_ptr, out_n).decode() == f"Hello, {text}!"
    count, rptr, rn = exports["call_both"](store, ptr, n)
    assert count == n and get(store, instance, rptr, rn) == text.encode()[::-1]


def test_results_through_cabi_realloc(backend, store):
    def shout(msg: Str) -> Annotated[str, Guest(alloc="cabi_realloc")]:
        return msg.upper()

    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "greet", shout, backend=backend)
    linker.define_callback("host", "log", Host().log, backend=backend)
    linker.define_callback("host", "log2", Host().log2, backend=backend)
    linker.define_callback("host", "both", Host().both, backend=backend)
    instance = linker.instantiate(store, wasmtime.Module(store.engine, WAT))
    ptr, n = put(store, instance, b"quiet")
    out_ptr, out_n = instance.exports(store)["call_greet"](store, ptr, n)
    assert get(store, instance, out_ptr, out_n) == b"QUIET"


def test_exact_path_does_not_allocate_guest_results_twice(backend, store):
    """An unsigned i32 beside guest data sends the results to the exact path: one allocation only."""

    def both(data: Bytes) -> Tuple[i32, Annotated[bytes, MALLOC]]:
        return 0xFFFFFFFF, b"abc"

    host = Host()
    linker = wasmjit.Linker(store.engine)
    for name in ("log", "log2", "greet"):
        linker.define_callback("host", name, getattr(host, name), backend=backend)
    linker.define_callback("host", "both", both, backend=backend)
    instance = linker.instantiate(store, wasmtime.Module(store.engine, WAT))
    exports = instance.exports(store)
    before = exports["heap_top"](store)
    count, ptr, n = exports["call_both"](store, 0, 0)
    assert (count, n) == (-1, 3) and get(store, instance, ptr, n) == b"abc"
    assert exports["heap_top"](store) - before == 8  # one 3-byte allocation, rounded to 8


def test_result_without_an_allocator_is_refused_at_registration(store):
    def greet(name: Str) -> Str:
        return name

    with pytest.raises(TypeError, match=r"needs an allocator .*Guest\(alloc='malloc'\)"):
        wasmjit.Function.from_callback(store, greet)


def test_guest_parameters_with_a_functype(backend, store):
    seen = []

    def log(msg: Str) -> None:
        seen.append(msg)

    i32_type = wasmtime.ValType.i32()
    host = wasmjit.Function.from_callback(store, log, type=wasmtime.FuncType([i32_type, i32_type], []), backend=backend)
    assert str(host.signature) == "(str@memory) -> ()"
    with pytest.raises(TypeError, match="two i32 or two i64"):
        wasmjit.Function.from_callback(store, log, type=wasmtime.FuncType([i32_type], []))


def test_two_instances_behind_one_linker_each_read_their_own_memory(backend, store):
    host = Host()
    linker = wasmjit.Linker(store.engine)
    for name in ("log", "log2", "greet", "both"):
        linker.define_callback("host", name, getattr(host, name), backend=backend)
    module = wasmtime.Module(store.engine, WAT)
    first, second = linker.instantiate(store, module), linker.instantiate(store, module)
    a = put(store, first, b"first instance")
    # the same address in the second instance holds other bytes
    b = put(store, second, b"SECOND instance")
    first.exports(store)["call_log"](store, *a)
    second.exports(store)["call_log"](store, *b)
    assert host.seen == ["first instance", "SECOND instance"]
    assert a[0] == b[0]


def test_memory_that_grows_and_moves_inside_callbacks(backend):
    """The allocator grows a memory that moves; every byte must still be right."""
    store, host = moving_store(), Host()
    instance = instantiate(store, host, backend)
    exports = instance.exports(store)
    rng = random.Random(1)
    for round_ in range(40):
        size = rng.choice([0, 1, 100, 5000, 70000])
        data = bytes(rng.getrandbits(8) for _ in range(min(size, 512))) * (size // 512 + 1)
        data = data[:size]
        ptr, n = put(store, instance, data)
        count, rptr, rn = exports["call_both"](store, ptr, n)
        assert count == size and get(store, instance, rptr, rn) == data[::-1], round_
    assert exports["memory"].size(store) > 1


def test_out_of_bounds_parameters_raise_and_name_the_bounds(backend, store):
    host = Host()
    instance = instantiate(store, host, backend)
    call_log = wasmjit.typed(store, instance.exports(store)["call_log"])
    for ptr, n in [(65530, 12), (65536, 1), (0xFFFFFFFF, 2), (10, 0xFFFFFFFF), (0xFFFFFFF0, 0x20)]:
        with pytest.raises(wasmjit.OutOfBounds, match=r"parameter 0 \(str@memory\).*65536 bytes"):
            call_log(ptr, n)
    call_log(65536, 0)  # an empty string at the very end is in bounds
    assert host.seen == [""]


def test_invalid_utf8_is_reraised_from_the_outermost_call(backend, store):
    instance = instantiate(store, Host(), backend)
    ptr, n = put(store, instance, b"ok \xff\xfe bad")
    with pytest.raises(UnicodeDecodeError):
        wasmjit.typed(store, instance.exports(store)["call_log"])(ptr, n)


def test_missing_memory_export_is_named(backend, store):
    def log(msg: Annotated[str, Guest(memory="heap")]) -> None:
        raise AssertionError("unreachable")

    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "log", log, backend=backend)
    host = Host()
    for name in ("log2", "greet", "both"):
        linker.define_callback("host", name, getattr(host, name), backend=backend)
    instance = linker.instantiate(store, wasmtime.Module(store.engine, WAT))
    with pytest.raises(KeyError, match="no export named 'heap'"):
        wasmjit.typed(store, instance.exports(store)["call_log"])(0, 1)


def test_result_of_the_wrong_type_is_reported(backend, store):
    def greet(name: Str) -> Annotated[str, MALLOC]:
        return 42  # type: ignore[return-value]

    linker = wasmjit.Linker(store.engine)
    linker.define_callback("host", "greet", greet, backend=backend)
    host = Host()
    for name in ("log", "log2", "both"):
        linker.define_callback("host", name, getattr(host, name), backend=backend)
    instance = linker.instantiate(store, wasmtime.Module(store.engine, WAT))
    with pytest.raises(TypeError, match=r"result 0 \(str@memory\): expected a str, got int"):
        instance.exports(store)["call_greet"](store, 0, 0)


# Typed calls -----------------------------------------------------------------------------


def typed_exports(store, instance, backend):
    exports = instance.exports(store)
    length = wasmjit.typed(
        store, exports["length"], Callable[[Annotated[bytes, MALLOC]], i32], instance=instance, backend=backend
    )
    echo = wasmjit.typed(
        store,
        exports["echo"],
        Callable[[Annotated[str, FREEING]], Annotated[str, FREEING]],
        instance=instance,
        backend=backend,
    )
    return length, echo


@pytest.mark.parametrize("text", TEXTS)
def test_typed_calls_copy_arguments_in_and_results_out(backend, text):
    store = wasmtime.Store()
    instance = instantiate(store, Host(), backend)
    length, echo = typed_exports(store, instance, backend)
    freed = instance.exports(store)["freed"]
    assert length(text.encode()) == len(text.encode())
    assert length(bytearray(b"abc")) == 3 and length(memoryview(b"abcd")) == 4
    before = freed(store)
    assert echo(text) == text
    assert freed(store) - before == 2  # the argument after the call, the result once read


def test_typed_call_with_guest_data_needs_its_instance(store):
    instance = instantiate(store, Host(), "reflect")
    with pytest.raises(TypeError, match="needs instance="):
        wasmjit.typed(store, instance.exports(store)["length"], Callable[[Annotated[bytes, MALLOC]], i32])
    with pytest.raises(TypeError, match="needs an allocator"):
        wasmjit.typed(store, instance.exports(store)["length"], Callable[[Bytes], i32], instance=instance)


def test_typed_calls_with_random_lengths_and_text_against_stock(backend):
    store = moving_store()
    instance = instantiate(store, Host(), backend)
    length, echo = typed_exports(store, instance, backend)
    exports = instance.exports(store)
    rng = random.Random(7)
    alphabet = "aé☃𝄞\u0000\u07ff\uffff"
    for _ in range(60):
        n = rng.choice([0, 1, 2, 63, 64, 1000, rng.randrange(65536)])
        data = rng.randbytes(n)
        assert length(data) == n
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(200)))
        assert echo(text) == text
        # stock: the same work through wasmtime-py
        ptr, size = put(store, instance, text.encode())
        out_ptr, out_n = exports["echo"](store, ptr, size)
        assert get(store, instance, out_ptr, out_n).decode() == text
        exports["reset"](store)


def test_typed_call_rejects_a_lone_surrogate(backend, store):
    instance = instantiate(store, Host(), backend)
    _, echo = typed_exports(store, instance, backend)
    with pytest.raises(UnicodeEncodeError):
        echo("bad \ud800 surrogate")
    assert echo("fine") == "fine"  # the caller is not left busy


def test_restricted_interpreter_uses_reflect_for_guest_data():
    """No compile, exec or new code objects: guest data goes through reflect (hook set after imports)."""
    module_text = (
        '(module (import "host" "log" (func $log (param i32 i32)))'
        ' (memory (export "memory") 1) (data (i32.const 8) "restricted")'
        ' (func (export "run") (call $log (i32.const 8) (i32.const 10))))'
    )
    code = textwrap.dedent(
        f"""
        import sys, bytecode, dis, linecache, inspect, typing
        import wasmtime, wasmjit, wasmjit.memory
        from wasmjit import Str
        def hook(event, args):
            if event in ("compile", "exec", "code.__new__"):
                raise RuntimeError("dynamic code is forbidden here")
        sys.addaudithook(hook)
        store = wasmtime.Store()
        seen = []
        def log(msg: Str) -> None:
            seen.append(msg)
        linker = wasmjit.Linker(store.engine)
        assert linker.define_callback("host", "log", log) == "reflect"
        instance = linker.instantiate(store, wasmtime.Module(store.engine, {module_text!r}))
        wasmjit.typed(store, instance.exports(store)["run"])()
        print(seen)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['restricted']"


def test_explain_shows_guest_data(store):
    instance = instantiate(store, Host(), "source")
    _, echo = typed_exports(store, instance, "source")
    text = wasmjit.explain(echo)
    assert "m0, m1 = write_guest_0(guests, a0)" in text
    assert "free_guest_0(guests, m0, m1)" in text
    assert "v0 = read_guest_0(guests, r0, r1)" in text
    host = wasmjit.Function.from_callback(store, Host().greet, backend="source")
    listing = wasmjit.explain(host)
    assert "v0 = read_guest_0(caller_ptr, p0, p1)" in listing
    assert "g0, g1 = write_guest_0(caller_ptr, result)" in listing
    reflect = wasmjit.explain(wasmjit.Function.from_callback(store, Host().greet, backend="reflect"))
    assert "parameter str@memory at slots 0-1: read from the calling instance's memory 'memory'" in reflect
    assert "result str@memory at slots 0-1: copied through 'malloc'" in reflect
