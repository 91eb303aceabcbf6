"""Guest-data workloads: ``wasmjit.Str`` / ``wasmjit.Bytes`` crossing the boundary.

``callback-pair``
    The empty host function of type ``(i32, i32) -> i32`` every backend
    builds: what a guest-data callback costs before it touches memory.
``guest-log-32``
    wasm calls ``log(msg: wasmjit.Str) -> i32`` with 32 bytes of UTF-8:
    stock reads ``caller["memory"]`` and decodes; the floor is the
    hand-written trampoline of ``memory-callback-read`` decoding the bytes.
``guest-greet-32``
    wasm calls ``greet(name: Str) -> Annotated[str, Guest(alloc="alloc")]``,
    which returns 32 bytes of text copied into guest memory through the
    guest's allocator: stock reads the name, calls ``caller["alloc"]``,
    writes with ``Memory.write`` and returns ``(ptr, len)``.
``guest-checksum-1k``
    Python calls ``checksum(data)`` with 1 KiB of bytes, typed as
    ``Callable[[Annotated[bytes, Guest(alloc="alloc", free="free")]], i32]``:
    stock calls ``alloc``, ``Memory.write``, ``checksum`` and ``free``; the
    floor makes the same three calls through hand-written raw callers and
    copies with ``ctypes.memmove``.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Annotated, Any, Callable, Dict, List, Tuple

import wasmtime

import wasmjit
from wasmjit import Guest, Str, i32

from . import floors, wasm
from .loops import batch, loop
from .measure import Runner
from .variants import backends

__all__ = ["build_pair", "build_log", "build_greet", "build_checksum", "GUEST_WAT"]

TEXT = wasm.GUEST_32.decode()
KIB = bytes(range(256)) * 4

#: A guest with a ring allocator (``alloc`` never runs out: it reuses 64 slots of
#: 2 KiB), ``free``, ``checksum(ptr, len)`` (the sum of the bytes) and a loop
#: calling the host ``f(ptr, len) -> (ptr, len)`` with the 32 bytes at 64.
GUEST_WAT = f"""
(module
  (import "host" "pair" (func $pair (param i32 i32) (result i32)))
  (import "host" "greet" (func $greet (param i32 i32) (result i32 i32)))
  (memory (export "memory") 4)
  (data (i32.const 64) "{TEXT}")
  (global $slot (mut i32) (i32.const 0))
  (global $live (mut i32) (i32.const 0))
  (func (export "alloc") (param $n i32) (result i32)
    (if (i32.gt_u (local.get $n) (i32.const 2048)) (then unreachable))
    (global.set $slot (i32.and (i32.add (global.get $slot) (i32.const 1)) (i32.const 63)))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (i32.add (i32.const 65536) (i32.mul (global.get $slot) (i32.const 2048))))
  (func (export "free") (param $ptr i32) (global.set $live (i32.sub (global.get $live) (i32.const 1))))
  (func (export "live") (result i32) (global.get $live))
  (func (export "checksum") (param $ptr i32) (param $n i32) (result i32)
    (local $sum i32) (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $n)))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $ptr))))
      (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
      (br $again)))
    (local.get $sum))
  (func (export "run_pair") (param $n i32)
    (loop $again (if (local.get $n) (then
      (drop (call $pair (i32.const 64) (i32.const 32)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $again)))))
  (func (export "greet_once") (result i32 i32) (call $greet (i32.const 64) (i32.const 32)))
  (func (export "run_greet") (param $n i32)
    (loop $again (if (local.get $n) (then
      (drop (drop (call $greet (i32.const 64) (i32.const 32))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $again))))))
"""



def _pair_type() -> wasmtime.FuncType:
    # A new one each time: a FuncType is bound to the first engine that uses it.
    return floors.functype("i32 i32", "i32")


def _greet_type() -> wasmtime.FuncType:
    return floors.functype("i32 i32", "i32 i32")


def _instance(store: wasmtime.Store, pair: wasmtime.Func, greet: wasmtime.Func) -> wasmtime.Instance:
    return wasmtime.Instance(store, wasmtime.Module(store.engine, GUEST_WAT), [pair, greet])


def _loops(
    hosts: Dict[str, Tuple[wasmtime.Func, wasmtime.Func]], store: wasmtime.Store, export: str
) -> Dict[str, Runner]:
    runners: Dict[str, Runner] = {}
    for name, (pair, greet) in hosts.items():
        run = _instance(store, pair, greet).exports(store)[export]
        assert isinstance(run, wasmtime.Func)
        drive = floors.driver(store, run, "i32")
        drive(3)
        runners[name] = batch(drive)
    return runners


# Host functions -------------------------------------------------------------------------


def empty(ptr: i32, n: i32) -> i32:
    return 0


def log(msg: Str) -> i32:
    return len(msg)


def greet(name: Str) -> Annotated[str, Guest(alloc="alloc")]:
    return TEXT


def stock_log(caller: wasmtime.Caller, ptr: int, n: int) -> int:
    memory = caller["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return len(memory.read(caller, ptr, ptr + n).decode())


def stock_greet(caller: wasmtime.Caller, ptr: int, n: int) -> List[int]:
    memory, alloc = caller["memory"], caller["alloc"]
    assert isinstance(memory, wasmtime.Memory) and isinstance(alloc, wasmtime.Func)
    memory.read(caller, ptr, ptr + n).decode()
    data = TEXT.encode()
    out = alloc(caller, len(data))
    memory.write(caller, data, out)
    return [out, len(data)]


def _unused_greet(store: wasmtime.Store) -> wasmtime.Func:
    return wasmtime.Func(store, _greet_type(), lambda ptr, n: [0, 0])


def _unused_pair(store: wasmtime.Store) -> wasmtime.Func:
    return wasmtime.Func(store, _pair_type(), lambda ptr, n: 0)


# Builders ------------------------------------------------------------------------------------


def build_pair(notes: List[str]) -> Dict[str, Runner]:
    store = wasmtime.Store()
    hosts = {
        "stock": (wasmtime.Func(store, _pair_type(), lambda ptr, n: 0), _unused_greet(store)),
    }
    for backend in backends(notes):
        hosts[backend] = (wasmjit.Function.from_callback(store, empty, backend=backend), _unused_greet(store))
    return _loops(hosts, store, "run_pair")


def build_log(notes: List[str]) -> Dict[str, Runner]:
    store = wasmtime.Store()
    hosts = {
        "stock": (wasmtime.Func(store, _pair_type(), stock_log, access_caller=True), _unused_greet(store)),
        "floor": (floors.callback_memory_read(store, lambda data: len(data.decode())), _unused_greet(store)),
    }
    for backend in backends(notes):
        hosts[backend] = (wasmjit.Function.from_callback(store, log, backend=backend), _unused_greet(store))
    seen: List[str] = []

    def check(msg: Str) -> i32:
        seen.append(msg)
        return 0

    _loops({"check": (wasmjit.Function.from_callback(store, check), _unused_greet(store))}, store, "run_pair")["check"](
        1
    )
    assert seen and set(seen) == {TEXT}, seen  # warm-up calls included
    return _loops(hosts, store, "run_pair")


def build_greet(notes: List[str]) -> Dict[str, Runner]:
    store = wasmtime.Store()
    hosts = {"stock": (_unused_pair(store), wasmtime.Func(store, _greet_type(), stock_greet, access_caller=True))}
    for backend in backends(notes):
        hosts[backend] = (_unused_pair(store), wasmjit.Function.from_callback(store, greet, backend=backend))
    # Every variant leaves the same text where it says.
    for name, (pair, host) in hosts.items():
        exports = _instance(store, pair, host).exports(store)
        memory, once = exports["memory"], exports["greet_once"]
        assert isinstance(memory, wasmtime.Memory) and isinstance(once, wasmtime.Func)
        ptr, n = once(store)
        assert memory.read(store, ptr, ptr + n) == wasm.GUEST_32, name
    return _loops(hosts, store, "run_greet")


class _Raw:
    """A hand-written raw caller of one ``(i32...) -> (i32?)`` export (the floor's building block)."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, params: int, results: int) -> None:
        slots = max(params, results)
        self.buffer = floors._Buffer(store, func, slots)
        self.encode = struct.Struct("<" + "i12x" * (params - 1) + "i" if params else "<").pack_into
        self.decode = struct.Struct(f"<{slots * 16}xQ" if not results else f"<i{slots * 16 - 4}xQ").unpack_from


def build_checksum(notes: List[str]) -> Dict[str, Runner]:
    store = wasmtime.Store()
    instance = _instance(store, _unused_pair(store), _unused_greet(store))
    exports = instance.exports(store)
    memory, alloc, free, checksum = exports["memory"], exports["alloc"], exports["free"], exports["checksum"]
    assert isinstance(memory, wasmtime.Memory)
    assert isinstance(alloc, wasmtime.Func) and isinstance(free, wasmtime.Func) and isinstance(checksum, wasmtime.Func)
    expected = sum(KIB)

    def stock(data: bytes) -> int:
        ptr = alloc(store, len(data))
        memory.write(store, data, ptr)
        result = checksum(store, ptr, len(data))
        free(store, ptr)
        return int(result)

    # The floor: raw calls with pre-built arguments, memmove into the memory's current base.
    call = floors._func_call_unchecked
    raw_alloc, raw_sum, raw_free = _Raw(store, alloc, 1, 1), _Raw(store, checksum, 2, 1), _Raw(store, free, 1, 0)
    memory_address = ctypes.addressof(memory._memory)
    context = floors._context(store)
    memory_data = floors._memory_data

    def floor(
        data: bytes,
        memmove: Any = ctypes.memmove,
        a: _Raw = raw_alloc,
        s: _Raw = raw_sum,
        f: _Raw = raw_free,
    ) -> int:
        n = len(data)
        a.encode(a.buffer.view, 0, n)
        err = call(*a.buffer.arguments)
        ptr, trap = a.decode(a.buffer.view)
        if err or trap:
            a.buffer.fail(err, trap)
        memmove(memory_data(context, memory_address) + ptr, data, n)
        s.encode(s.buffer.view, 0, ptr, n)
        err = call(*s.buffer.arguments)
        result, trap = s.decode(s.buffer.view)
        if err or trap:
            s.buffer.fail(err, trap)
        f.encode(f.buffer.view, 0, ptr)
        err = call(*f.buffer.arguments)
        (trap,) = f.decode(f.buffer.view)
        if err or trap:
            f.buffer.fail(err, trap)
        return int(result)

    signature = Callable[[Annotated[bytes, Guest(alloc="alloc", free="free")]], i32]
    variants: Dict[str, Callable[[bytes], int]] = {"stock": stock, "floor": floor}
    for backend in backends(notes):
        variants[backend] = wasmjit.typed(store, checksum, signature, instance=instance, backend=backend)
    live = exports["live"]
    assert isinstance(live, wasmtime.Func)
    for name, fn in variants.items():
        assert fn(KIB) == expected, name
        assert live(store) == 0, name  # everything allocated was freed
    return {name: loop(fn, KIB) for name, fn in variants.items()}
