"""Guest-memory workloads: ``wasmjit.Memory``, ``Caller.memory()`` and wasmtime-py's Memory under install().

``memory-write-1m`` / ``memory-read-into-1m``
    Copy 1 MiB into / out of a wasm memory: stock ``Memory.write`` (and
    ``Memory.read`` copied into the buffer), a bare ``ctypes.memmove`` (the
    floor), ``wasmjit.Memory.write`` / ``read_into``.  ``wasmjit.Memory``
    builds no trampoline, so it has one figure, shown under the default
    backend's name.
``memory-callback-read``
    wasm calls a host function that reads 32 bytes of the calling
    instance's memory: stock ``caller["memory"].read(caller, ptr, ptr + 32)``,
    a hand-written ctypes trampoline, and ``caller.memory().read(ptr, 32)``
    in a ``wasmjit.Function`` of each backend.
``dropin-memory-callback`` / ``dropin-memory-loop``
    Unmodified wasmtime-py code, stock and under ``wasmjit.install()``: the
    stock callback above, and a Python loop of ``alloc`` / ``Memory.write`` /
    an export call / ``Memory.read`` / ``free``.
"""

from __future__ import annotations

import ctypes
from itertools import repeat
from typing import Any, Callable, Dict, List, Tuple

import wasmtime

import wasmjit
from wasmjit import i32

from . import floors, wasm
from .dropin import _variants
from .loops import batch, loop
from .measure import Runner
from .variants import BACKENDS, backends

__all__ = [
    "DEFAULT_BACKEND",
    "default_backend",
    "build_write",
    "build_read_into",
    "build_callback_read",
    "build_dropin_callback",
    "build_dropin_loop",
]

#: Bytes copied by the 1 MiB workloads, at this address.
MIB = 1 << 20
ADDRESS = 65536
#: Bytes each iteration of the drop-in loop sends through the guest.
LOOP_BYTES = 64


def default_backend() -> str:
    """The backend wasmjit picks by default here (the one the compact table shows)."""
    if wasmjit.get_dynamic_code() is False:
        return "reflect"
    allowed = wasmjit.probe()
    return next((name for name in BACKENDS if allowed[name] is None), "reflect")


DEFAULT_BACKEND = default_backend()


def _guest_memory() -> "tuple[wasmtime.Store, wasmtime.Memory, Dict[str, Any]]":
    store = wasmtime.Store()
    exports = dict(wasmtime.Instance(store, wasmtime.Module(store.engine, wasm.MEMORY_LOOP), []).exports(store))
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return store, memory, exports


# 1 MiB copies --------------------------------------------------------------------------------


def build_write(notes: List[str]) -> Dict[str, Runner]:
    store, memory, _ = _guest_memory()
    data = bytes(range(256)) * (MIB // 256)
    mine = wasmjit.Memory(store, memory)
    floor = floors.memory_write(store, memory)

    def stock(ptr: int, payload: bytes) -> None:
        memory.write(store, payload, ptr)

    writers: Dict[str, Callable[[int, bytes], Any]] = {"stock": stock, "floor": floor, DEFAULT_BACKEND: mine.write}
    for name, write in writers.items():  # every variant must leave the same bytes
        memory.write(store, bytes(MIB), ADDRESS)
        write(ADDRESS, data)
        assert memory.read(store, ADDRESS, ADDRESS + MIB) == data, name
    return {name: loop(write, ADDRESS, data) for name, write in writers.items()}


def build_read_into(notes: List[str]) -> Dict[str, Runner]:
    store, memory, _ = _guest_memory()
    data = bytes(range(255, -1, -1)) * (MIB // 256)
    memory.write(store, data, ADDRESS)
    mine = wasmjit.Memory(store, memory)
    floor = floors.memory_read_into(store, memory)
    target = bytearray(MIB)
    c_target = (ctypes.c_char * MIB)()

    def stock(ptr: int, buffer: bytearray) -> None:
        buffer[:] = memory.read(store, ptr, ptr + len(buffer))

    checks: List[Tuple[str, Callable[[int, Any], Any], Any]] = [
        ("stock", stock, target),
        ("floor", floor, c_target),
        (DEFAULT_BACKEND, mine.read_into, target),
    ]
    for name, read_into, buffer in checks:
        ctypes.memset(ctypes.addressof(c_target), 0, MIB)
        target[:] = bytes(MIB)
        read_into(ADDRESS, buffer)
        assert bytes(buffer) == data, name
    return {name: loop(read_into, ADDRESS, buffer) for name, read_into, buffer in checks}


# A callback reading 32 bytes -----------------------------------------------------------------


def stock_read(caller: wasmtime.Caller, ptr: int, length: int) -> int:
    memory = caller["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return len(memory.read(caller, ptr, ptr + length))


def stock_bytes(caller: wasmtime.Caller, ptr: int, length: int) -> bytearray:
    memory = caller["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return memory.read(caller, ptr, ptr + length)


def wasmjit_read(caller: wasmjit.Caller, ptr: i32, length: i32) -> i32:
    return len(caller.memory().read(ptr, length))


def _wasm_loop(store: wasmtime.Store, host: wasmtime.Func) -> Callable[[int], None]:
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm.CALLBACK_MEMORY), [host])
    run = instance.exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    return floors.driver(store, run, "i32")


def build_callback_read(notes: List[str]) -> Dict[str, Runner]:
    store = wasmtime.Store()
    hosts: Dict[str, wasmtime.Func] = {
        "stock": wasmtime.Func(store, floors.functype("i32 i32", "i32"), stock_read, access_caller=True),
        "floor": floors.callback_memory_read(store, len),
    }
    for backend in backends(notes):
        hosts[backend] = wasmjit.Function.from_callback(store, wasmjit_read, backend=backend)
    runners: Dict[str, Runner] = {}
    for name, host in hosts.items():
        run = _wasm_loop(store, host)
        run(3)
        runners[name] = batch(run)

    def check(caller: wasmjit.Caller, ptr: i32, length: i32) -> i32:
        assert caller.memory().read(ptr, length) == wasm.GUEST_32
        assert bytes(stock_bytes(caller, ptr, length)) == wasm.GUEST_32
        return 0

    _wasm_loop(store, wasmjit.Function.from_callback(store, check))(1)  # what every variant reads
    return runners


# Unmodified wasmtime-py code under install() ---------------------------------------------


def _user_callback_program() -> Callable[[int], Any]:
    """A wasmtime-py user's host function reading guest memory through the caller."""
    store = wasmtime.Store()
    host = wasmtime.Func(store, floors.functype("i32 i32", "i32"), stock_read, access_caller=True)
    module = wasmtime.Module(store.engine, wasm.CALLBACK_MEMORY)
    run = wasmtime.Instance(store, module, [host]).exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    return lambda n: run(store, n)


def _user_loop_program() -> Callable[[int], Any]:
    """A wasmtime-py user's loop: allocate, write, call, read back, free."""
    store = wasmtime.Store()
    exports = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm.MEMORY_LOOP), []).exports(store)
    memory, alloc, upper, free = exports["memory"], exports["alloc"], exports["upper"], exports["free"]
    assert isinstance(memory, wasmtime.Memory)
    assert isinstance(alloc, wasmtime.Func) and isinstance(upper, wasmtime.Func) and isinstance(free, wasmtime.Func)
    payload = b"the quick brown fox jumps over the lazy dog, 64 bytes of it....."[:LOOP_BYTES]
    expected = bytearray(payload.upper())

    def many(n: int) -> Any:
        out = None
        for _ in repeat(None, n):
            ptr = alloc(store, LOOP_BYTES)
            memory.write(store, payload, ptr)
            upper(store, ptr, LOOP_BYTES)
            out = memory.read(store, ptr, ptr + LOOP_BYTES)
            free(store, ptr)
        assert n == 0 or out == expected
        return out

    return many


def build_dropin_callback(notes: List[str]) -> Dict[str, Runner]:
    return _variants(_user_callback_program)


def build_dropin_loop(notes: List[str]) -> Dict[str, Runner]:
    return _variants(_user_loop_program)
