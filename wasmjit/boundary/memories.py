"""Guest memories at the boundary: bounds-checked access that stays right when memory moves.

The machinery behind :class:`wasmjit.Memory`, ``Caller.memory()``, guest
data in trampolines (:mod:`.guest`) and ``install()``'s memory paths.

``wasmjit.Memory(store, memory)`` wraps any ``wasmtime.Memory``;
``caller.memory()`` gives the calling instance's exported memory inside a
callback.  Both read and write ``(ptr, n)`` ranges with one bounds check
that names the pointer, the length and the memory's size, and never touch
a byte outside the memory.

How it stays correct: what is cached, and why it cannot go stale
-----------------------------------------------------------------

Every memory has one :class:`Core`, found by the memory's identity: the
store id, instance and index inside its ``wasmtime_memory_t``.  wasmtime
never reuses a store id within a process, so an identity names one memory
for ever.  A core caches ``(base, size)``: the memory's address and its byte
length when they were last read.

The base address changes only when the memory grows (by ``memory.grow`` in
wasm, by ``wasmtime.Memory.grow``, by :meth:`Memory.grow`, from any object
of the same memory), and a wasm memory never shrinks; growing by 0 pages
changes nothing.  So every access first asks wasmtime for the current size
(``wasmtime_memory_data_size``, one FFI call): equal to the cached size
means no grow happened since, and the cached base is still the base;
anything else re-reads the base (a second FFI call, once per grow).  The
check is made on every access, not once per callback or per call, because
wasm may grow the memory whenever it runs, and Python may call into wasm
or grow the memory between any two accesses.

Nothing else is cached across accesses except what cannot change while its
owner lives:

* the context address of a store or a caller (remembered on the object),
  used only after checking that the store is still open, or the caller
  still live;
* in a core, the context of the core's own store, learned from a live
  caller of that store and used only with a caller of that store that is
  live (its export look-up just returned the core, so the store is alive;
  and a caller's store is the store of everything it exports, so the
  look-up also tells the caller its context).

Export look-ups are not cached across calls: which instance is calling is
not known without the look-up itself (a host function may be imported by
any number of instances), so ``caller.memory()`` performs one
``wasmtime_caller_export_get`` per call.

A memory belonging to another store than the one it is used with makes
wasmtime abort the process; :class:`Memory` checks the store's identity
when it is built and raises ``ValueError`` instead.

Stores are not thread-safe (wasmtime's rule): one store, and its memories,
must be used by one thread at a time.  Different stores on different
threads are independent; the scratch space of export look-ups is per
thread.

Views
-----

``with memory.view(ptr, n) as view:`` lends a writable ``memoryview`` of the
memory itself.  It is released when the block ends; a view derived from it
(a slice, ``memoryview(view)``, a NumPy array over it) that is still alive
then makes the block raise ``BufferError``.  While a view, or a derived view,
is alive, :meth:`Memory.grow` (and ``wasmtime.Memory.grow`` under
:func:`wasmjit.install`) refuses with ``BufferError`` instead of moving the
memory under it.  A grow by wasm itself cannot be refused: do not call into
wasm, and do not close the store, inside the block.  If the memory moved
during the block anyway, the block raises ``BufferError`` at its end.

Internal API (for markers built on top of this module)
------------------------------------------------------

* :func:`core_of` -- the :class:`Core` of a ``wasmtime.Memory``;
* :func:`caller_core` -- the core of the calling instance's export ``name``,
  from the raw caller address, with ``core.context`` set;
* ``Core.read(context, ptr, n)``, ``read_str``, ``read_into``, ``write``,
  ``bounds(context)`` -- bounds-checked accesses with a live context;
* :func:`open_context` -- the context address of a store or caller, or
  ``None`` when it is closed or not one wasmjit knows.
"""

from __future__ import annotations

import ctypes
import operator
import struct
import threading
import weakref
from typing import Any, Dict, List, Optional, Tuple

import wasmtime

from . import ffi, wasmtime_py
from .caller import Caller
from .errors import error_from_address

__all__ = [
    "OutOfBounds",
    "Core",
    "core_of",
    "caller_core",
    "export_of",
    "open_context",
    "refuse_if_pinned",
    "pin",
    "unpin",
    "store_ids",
    "views_held",
    "CORES_KEPT",
]

_MEMORY = ffi.MEMORY
_data = ffi.memory_data
_data_size = ffi.memory_data_size
_index = operator.index
_export_get = ffi.caller_export_get_holding_gil
_caller_context = ffi.caller_context_holding_gil

#: A memory's identity: the extern kind (always a memory) and the store id,
#: instance and index of its ``wasmtime_memory_t``; what a ``wasmtime_extern_t``
#: holding the memory starts with, so one ``unpack_from`` reads it.
Key = Tuple[int, int, int, int]
_EXTERN_KEY = struct.Struct("=B7xQI4xI")
_MEMORY_KEY = struct.Struct("=QI4xI")
_EXTERN_MEMORY = wasmtime_py.EXTERN_MEMORY
#: Offset of the ``wasmtime_memory_t`` inside a ``wasmtime_extern_t`` (after its kind).
_EXTERN_OF = ffi.ExternStruct.of.offset
if _EXTERN_OF != 8 or ctypes.sizeof(ffi.MemoryStruct) != 24:  # what _EXTERN_KEY reads
    raise ImportError("wasmjit.memory: unexpected wasmtime_extern_t layout in this wasmtime-py")
#: The attribute under which a ``wasmtime.Memory`` keeps its core (set by :func:`core_of`).
CORE_ATTRIBUTE = "_wasmjit_core"
#: The attribute under which a store or a caller keeps its context address (set by :func:`open_context`).
CONTEXT_ATTRIBUTE = "_wasmjit_context"

#: How many cores are kept at the most (the oldest go first; an object that holds one keeps using it).
CORES_KEPT = 1024


class OutOfBounds(IndexError):
    """An access ``(ptr, n)`` that does not lie inside the memory.

    ``ptr``, ``n`` and ``size`` (the memory's size in bytes when it was
    checked) are attributes too.
    """

    def __init__(self, ptr: int, n: int, size: int) -> None:
        self.ptr = ptr
        self.n = n
        self.size = size
        if n < 0:
            why = f"n={n} is negative (ptr={ptr})"
        elif ptr < 0:
            why = f"ptr={ptr} is negative (n={n})"
        else:
            why = f"ptr={ptr} + n={n} = {ptr + n} is beyond the end"
        super().__init__(f"out of bounds: {why}; the memory is {size} bytes")


def out_of_bounds(ptr: int, n: int, size: int) -> OutOfBounds:
    return OutOfBounds(ptr, n, size)


# Buffers -----------------------------------------------------------------------------


def _source_bytes(data: Any) -> Tuple[Any, int]:
    """``data`` (any buffer) as something a byte memoryview slice can be assigned from, and its length."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        try:
            view = view.cast("B")
        except (TypeError, ValueError):  # not C-contiguous, or a format memoryview cannot cast
            view = memoryview(view.tobytes())
    return view, view.nbytes


def _target_bytes(buffer: Any) -> Tuple[Any, int]:
    """A writable buffer as a byte view to assign to (or a ctypes array over it), and its length."""
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError(f"read_into needs a writable buffer, not a read-only {type(buffer).__name__}")
    if view.format == "B" and view.ndim == 1:
        return view, view.nbytes
    try:
        return view.cast("B"), view.nbytes
    except (TypeError, ValueError):
        if not view.c_contiguous:
            raise TypeError(f"read_into needs a C-contiguous buffer, not a strided {type(buffer).__name__}") from None
        # A format memoryview cannot cast (a ctypes array's '<B', ...): a ctypes view of the same bytes.
        return (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes


# Cores -------------------------------------------------------------------------------


class Core:
    """One wasm memory, shared by every object that accesses it.

    ``cache`` is ``(base, size)`` as last read; see the module docstring for
    why it is valid exactly while ``wasmtime_memory_data_size`` still
    returns ``size``.  ``context`` is the context address of the memory's
    store once a live caller of that store has told it (``None`` before):
    only code holding a live caller of that store may use it.  Every method
    taking a ``context`` needs a live context of the memory's own store.
    """

    __slots__ = ("__weakref__", "address", "cache", "context", "handle", "key")

    key: Key
    handle: Any
    """wasmjit's own copy of the ``wasmtime_memory_t``."""
    address: int
    """The address of ``handle``, for the FFI calls."""
    cache: Tuple[int, int]
    context: Optional[int]

    def __init__(self, key: Key, handle: Any) -> None:
        self.key = key
        self.handle = handle
        self.address = ctypes.addressof(handle)
        self.cache = (0, -1)
        self.context = None

    def bounds(self, context: int) -> Tuple[int, int]:
        """``(base, size)`` now: one FFI call, two after the memory grew."""
        size: int = _data_size(context, self.address)
        base, known = self.cache
        if known != size:
            base = self.refresh(context, size)
        return base, size

    def refresh(self, context: int, size: int) -> int:
        """Read the base again, now that the size is ``size`` (it grew); returns the base."""
        base: int = _data(context, self.address) or 0
        self.cache = (base, size)
        return base

    # read, read_str, read_into and write repeat the size check inline on
    # purpose: on the hot path of guest data, one Python call less per access.

    def read(self, context: int, ptr: int, n: int) -> bytes:
        """A copy of the ``n`` bytes at ``ptr`` (``OutOfBounds`` unless they lie in the memory)."""
        if type(ptr) is not int:
            ptr = _index(ptr)
        if type(n) is not int:
            n = _index(n)
        size: int = _data_size(context, self.address)
        base, known = self.cache
        if known != size:
            base = self.refresh(context, size)
        if ptr < 0 or n < 0 or ptr + n > size:
            raise out_of_bounds(ptr, n, size)
        start = base + ptr
        return _MEMORY[start : start + n].tobytes()

    def read_str(self, context: int, ptr: int, n: int, errors: str = "strict") -> str:
        """The ``n`` bytes at ``ptr`` decoded as UTF-8."""
        if type(ptr) is not int:
            ptr = _index(ptr)
        if type(n) is not int:
            n = _index(n)
        size: int = _data_size(context, self.address)
        base, known = self.cache
        if known != size:
            base = self.refresh(context, size)
        if ptr < 0 or n < 0 or ptr + n > size:
            raise out_of_bounds(ptr, n, size)
        start = base + ptr
        if errors == "strict":
            return str(_MEMORY[start : start + n], "utf-8")
        # An error handler may be Python code (codecs.register_error) that moves the memory: decode a copy.
        return _MEMORY[start : start + n].tobytes().decode("utf-8", errors)

    def read_into(self, context: int, ptr: int, buffer: Any) -> int:
        """Copy ``len(buffer)`` bytes (its size in bytes) at ``ptr`` into ``buffer``; returns that size."""
        if type(ptr) is not int:
            ptr = _index(ptr)
        target, n = _target_bytes(buffer)
        size: int = _data_size(context, self.address)
        base, known = self.cache
        if known != size:
            base = self.refresh(context, size)
        if ptr < 0 or ptr + n > size:
            raise out_of_bounds(ptr, n, size)
        start = base + ptr
        if type(target) is memoryview:
            target[:] = _MEMORY[start : start + n]
        else:
            ctypes.memmove(target, start, n)
        return n

    def write(self, context: int, ptr: int, data: Any) -> int:
        """Copy the bytes of ``data`` (any buffer) to ``ptr``; returns how many."""
        if type(ptr) is not int:
            ptr = _index(ptr)
        kind = type(data)
        if kind is bytes or kind is bytearray:
            n = len(data)
        else:
            data, n = _source_bytes(data)
        size: int = _data_size(context, self.address)
        base, known = self.cache
        if known != size:
            base = self.refresh(context, size)
        if ptr < 0 or ptr + n > size:
            raise out_of_bounds(ptr, n, size)
        start = base + ptr
        _MEMORY[start : start + n] = data
        return n

    def grow(self, context: int, delta: int) -> int:
        """Grow by ``delta`` pages; the previous size in pages (refused while a view is held)."""
        if type(delta) is not int:
            delta = _index(delta)
        if delta < 0:
            raise wasmtime.WasmtimeError("cannot grow by negative amount")
        if delta >= 1 << 64:
            raise wasmtime.WasmtimeError(f"cannot grow by {delta} pages")
        refuse_if_pinned(self.key)
        previous = ctypes.c_uint64(0)
        error = ffi.memory_grow(context, self.address, delta, ctypes.addressof(previous))
        if error:
            raise error_from_address(error)
        return previous.value


_cores: Dict[Key, Core] = {}


def _new_core(key: Key, source: Any, offset: int) -> Core:
    """The core of ``key`` (made from the ``wasmtime_memory_t`` at ``offset`` in ``source`` if new)."""
    core = _cores.get(key)
    if core is None:
        core = Core(key, ffi.MemoryStruct.from_buffer_copy(source, offset))
        if len(_cores) >= CORES_KEPT:
            _cores.pop(next(iter(_cores)), None)
        _cores[key] = core
    return core


def core_of(memory: wasmtime.Memory) -> Core:
    """The core of a ``wasmtime.Memory`` (remembered on the object)."""
    core: Optional[Core] = memory.__dict__.get(CORE_ATTRIBUTE)
    if core is None:
        handle = wasmtime_py.memory_handle(memory)
        core = _new_core((_EXTERN_MEMORY, *_MEMORY_KEY.unpack_from(handle)), handle, 0)
        memory.__dict__[CORE_ATTRIBUTE] = core
    return core


class _Scratch(threading.local):
    """A ``wasmtime_extern_t`` per thread for export look-ups.

    Per thread because another thread may run between the look-up and the
    reading of its result.
    """

    def __init__(self) -> None:
        self.item = ffi.ExternStruct()
        self.address = ctypes.addressof(self.item)


_scratch = _Scratch()


_memory_from_handle = wasmtime_py.memory_from_handle


def export_of(caller_address: int, name: bytes, caller_values: Optional[Dict[str, Any]] = None) -> Any:
    """What ``wasmtime.Caller.get`` returns for a live caller: a wasmtime-py object, or ``None``.

    With ``caller_values`` (the caller's ``__dict__``), a memory found also
    tells the caller its context: the caller's store is the memory's store.
    """
    scratch: int = _scratch.address
    if not _export_get(caller_address, name, len(name), scratch):
        return None
    key = _EXTERN_KEY.unpack_from(_MEMORY, scratch)
    core = _cores.get(key)
    if core is None:
        if key[0] != _EXTERN_MEMORY:
            return wasmtime_py.wrap_extern(ffi.ExternStruct.from_buffer_copy(_MEMORY, scratch))
        core = _new_core(key, _MEMORY, scratch + _EXTERN_OF)
    if caller_values is not None:
        context = core.context
        if context is None:
            context = core.context = _caller_context(caller_address)
        caller_values[CONTEXT_ATTRIBUTE] = context
    memory = _memory_from_handle(core.handle)
    memory.__dict__[CORE_ATTRIBUTE] = core
    return memory


def caller_core(caller_address: int, name: bytes, shown: Optional[str] = None) -> Core:
    """The core of the calling instance's memory export ``name``, with ``core.context`` set.

    ``KeyError`` when there is no such export, ``TypeError`` when it is not
    a memory.  ``caller_address`` must be a live ``wasmtime_caller_t *``.
    """
    scratch: int = _scratch.address
    if _export_get(caller_address, name, len(name), scratch):
        key = _EXTERN_KEY.unpack_from(_MEMORY, scratch)
        core = _cores.get(key)
        if core is None and key[0] == _EXTERN_MEMORY:
            core = _new_core(key, _MEMORY, scratch + _EXTERN_OF)
        if core is not None:
            if core.context is None:
                core.context = _caller_context(caller_address)
            return core
        found: Any = ffi.ExternStruct.from_buffer_copy(_MEMORY, scratch)
    else:
        found = None
    label = shown if shown is not None else name.decode("utf-8", "replace")
    if found is None:
        raise KeyError(f"the calling instance has no export named {label!r}")
    raise TypeError(f"export {label!r} of the calling instance is {_describe(found)}, not a memory")


def _describe(item: Any) -> str:
    kind = type(wasmtime_py.wrap_extern(item)).__name__
    return f"a {kind}" if kind[0] not in "AEIOU" else f"an {kind}"


# Contexts and stores ---------------------------------------------------------------


def pointer_address(pointer: Any) -> int:
    address: int = struct.unpack_from("P", pointer)[0]
    return address


def open_context(store: Any) -> Optional[int]:
    """The context address of an open store or a live caller; ``None`` otherwise (closed, or unknown type).

    ``wasmtime.Store`` and wasmjit's ``Caller`` remember it on themselves.
    """
    kind = type(store)
    if kind is Caller:
        values = store.__dict__
        address = values["_address"]
        if address is None:
            return None
        context: Optional[int] = values.get(CONTEXT_ATTRIBUTE)
        if context is None:
            context = values[CONTEXT_ATTRIBUTE] = _caller_context(address)
        return context
    if kind is wasmtime.Store:
        values = store.__dict__
        if values[wasmtime_py.STORE_CONTEXT_ATTRIBUTE] is None:
            return None
        context = values.get(CONTEXT_ATTRIBUTE)
        if context is None:
            context = values[CONTEXT_ATTRIBUTE] = wasmtime_py.store_context(store)
        return context
    if kind is wasmtime.Caller:
        pointer = store.__dict__.get(wasmtime_py.CALLER_CONTEXT_ATTRIBUTE)
        return None if pointer is None else pointer_address(pointer)
    return None


def store_id(context: int) -> int:
    """The identity of the store whose context this is (as in every ``wasmtime_*_t`` of it).

    wasmjit's one way of telling stores apart (an i31 reference carries it,
    and nothing is allocated for one); :data:`store_ids` remembers it per store.
    """
    ref = ffi.AnyRefStruct()
    ffi.anyref_from_i31(context, 0, ctypes.addressof(ref))
    identity = int(ref.store_id)
    ffi.anyref_unroot(ctypes.addressof(ref))
    return identity


store_ids: "weakref.WeakKeyDictionary[wasmtime.Store, int]" = weakref.WeakKeyDictionary()


# Views -----------------------------------------------------------------------------

#: Views lent by ``Memory.view`` whose memory must not move: key -> [(view of the memory, ptr, n)].
_pins: Dict[Key, List[Tuple[memoryview, int, int]]] = {}
_pins_lock = threading.Lock()


def views_held() -> bool:
    """Whether any view lent by :meth:`Memory.view` (or derived from one) may still be alive."""
    return bool(_pins)


def refuse_if_pinned(key: Key) -> None:
    """``BufferError`` if a view of the memory ``key`` (or a view derived from one) is alive."""
    if not _pins:
        return
    with _pins_lock:
        held = _pins.get(key)
        if not held:
            return
        alive = []
        for entry in held:
            try:
                entry[0].release()  # succeeds only once nothing derived from it is left
            except BufferError:
                alive.append(entry)
        if alive:
            _pins[key] = alive
        else:
            del _pins[key]
    if alive:
        _, ptr, n = alive[0]
        raise BufferError(
            f"cannot grow this memory while a view of it is held ({len(alive)} held; the first "
            f"lent by view(ptr={ptr}, n={n})): growing may move the memory"
        )


def pin(key: Key, region: memoryview, ptr: int, n: int) -> None:
    """Record a view lent over ``region`` of memory ``key``: grows through wasmjit refuse while it lives."""
    with _pins_lock:
        _pins.setdefault(key, []).append((region, ptr, n))


def unpin(key: Key, region: memoryview) -> None:
    """Forget the view lent over ``region`` (released: nothing derived from it is alive)."""
    with _pins_lock:
        held = _pins.get(key, [])
        held[:] = [entry for entry in held if entry[0] is not region]
        if not held:
            _pins.pop(key, None)
