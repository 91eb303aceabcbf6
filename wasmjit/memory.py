"""Fast access to guest memory: :class:`Memory` and ``Caller.memory()``.

``wasmjit.Memory(store, memory)`` wraps any ``wasmtime.Memory``;
``caller.memory()`` gives the calling instance's exported memory inside a
callback.  Both read and write ``(ptr, n)`` ranges with one bounds check
that names the pointer, the length and the memory's size, and never touch
a byte outside the memory.  What is cached and why it cannot go stale, and
how views are kept from outliving a move of the memory, is explained in
:mod:`wasmjit.boundary.memories`.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import wasmtime

from .boundary import ffi, wasmtime_py
from .boundary.caller import Caller
from .boundary.memories import (
    CORE_ATTRIBUTE,
    Core,
    OutOfBounds,
    caller_core,
    core_of,
    out_of_bounds,
    pin,
    store_id,
    store_ids,
    unpin,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Memory", "OutOfBounds", "caller_memory"]

_MEMORY = ffi.MEMORY
_index = operator.index


class _View:
    """The context manager :meth:`Memory.view` returns."""

    __slots__ = ("_lent", "_memory", "_n", "_ptr")

    def __init__(self, memory: "Memory", ptr: int, n: int) -> None:
        self._memory = memory
        self._ptr = _index(ptr)
        self._n = _index(n)
        self._lent: Optional[Tuple[memoryview, Any, memoryview, int]] = None

    def __enter__(self) -> memoryview:
        from pickle import PickleBuffer

        if self._lent is not None:
            raise RuntimeError("this view is already in use; call view() again for another one")
        memory = self._memory
        context = memory._live_context()
        ptr, n = self._ptr, self._n
        base, size = memory._core.bounds(context)
        if ptr < 0 or n < 0 or ptr + n > size:
            raise out_of_bounds(ptr, n, size)
        # ``region`` views the memory; the user gets a memoryview of a PickleBuffer
        # over it, so that everything derived from what the user holds is an
        # export of ``region``: ``region.release()`` fails while any is alive.
        region = _MEMORY[base + ptr : base + ptr + n]
        holder = PickleBuffer(region)
        lent = memoryview(holder)
        key = memory._core.key
        pin(key, region, ptr, n)
        self._lent = (region, holder, lent, base)
        return lent

    def __exit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        traceback: "Optional[TracebackType]",
    ) -> None:
        lent_state = self._lent
        if lent_state is None:
            return
        self._lent = None
        region, holder, lent, base = lent_state
        try:
            lent.release()
        except BufferError:
            pass  # something holds an export of it: region.release() below fails too
        holder.release()
        key = self._memory._core.key
        try:
            region.release()
        except BufferError:
            derived = True  # stays pinned: grows through wasmjit refuse until it is gone
        else:
            derived = False
            unpin(key, region)
        moved = False
        context = self._memory._context_if_live()
        if context is not None:
            moved = self._memory._core.bounds(context)[0] != base
        if exc is not None:
            return  # never hide the block's own exception
        if moved:
            raise BufferError(
                f"the memory moved while view(ptr={self._ptr}, n={self._n}) was held (wasm grew it?): "
                "the view pointed to freed memory; do not call into wasm while holding a view"
            )
        if derived:
            raise BufferError(
                f"a view derived from view(ptr={self._ptr}, n={self._n}) (a slice, a memoryview, an array "
                "over it) is still alive after the with block; drop it inside the block (until then, "
                "growing this memory through wasmjit raises BufferError)"
            )


# The public object --------------------------------------------------------------


class Memory:
    """Fast, bounds-checked access to one wasm linear memory.

    ``Memory(store, memory)`` wraps a ``wasmtime.Memory`` of ``store`` (a
    ``wasmtime.Store``, or a ``Caller`` during its call); inside a callback,
    ``caller.memory()`` gives the calling instance's exported memory.  The
    object stays bound to the store (or caller) it was made with: once that
    store is closed (or the callback returned), every method raises
    ``ValueError``.

    Every access checks ``ptr`` and ``n`` against the memory's current size
    and raises :class:`OutOfBounds` (an ``IndexError``) naming them and the
    size; nothing outside the memory is ever read or written.  A small access
    costs one FFI call (two after the memory grew); large ones run at
    ``memmove`` speed.
    """

    __slots__ = ("__weakref__", "_context", "_core", "_owner", "_owner_key", "_owner_values")

    _core: Core
    _context: int
    _owner: Any
    _owner_values: Dict[str, Any]
    _owner_key: str

    def __init__(self, store: Any, memory: wasmtime.Memory) -> None:
        if not isinstance(memory, wasmtime.Memory):
            raise TypeError(f"expected a wasmtime.Memory, got {type(memory).__name__}")
        kind = type(store)
        if kind is Caller:
            key = "_address"
        elif kind is wasmtime.Caller:
            key = wasmtime_py.CALLER_CONTEXT_ATTRIBUTE
        elif isinstance(store, wasmtime.Store):
            key = wasmtime_py.STORE_CONTEXT_ATTRIBUTE
        else:
            raise TypeError(f"expected a wasmtime.Store or a Caller, got {kind.__name__}")
        if store.__dict__.get(key) is None:
            raise ValueError(_dead_message(store))
        context = ffi.caller_context(store._address) if kind is Caller else wasmtime_py.store_context(store)
        core = core_of(memory)
        if isinstance(store, wasmtime.Store):
            identity = store_ids.get(store)
            if identity is None:
                identity = store_ids[store] = store_id(context)
        else:
            identity = store_id(context)
        if core.key[1] != identity:
            # wasmtime would abort the process on the first access.
            raise ValueError("this memory belongs to another store")
        self._bind(core, context, store, key)

    def _bind(self, core: Core, context: int, owner: Any, key: str) -> None:
        self._core = core
        self._context = context
        self._owner = owner
        self._owner_values = owner.__dict__
        self._owner_key = key

    # Liveness --------------------------------------------------------------------

    def _dead(self) -> ValueError:
        return ValueError(_dead_message(self._owner))

    def _live_context(self) -> int:
        if self._owner_values[self._owner_key] is None:
            raise self._dead()
        return self._context

    def _context_if_live(self) -> Optional[int]:
        return None if self._owner_values[self._owner_key] is None else self._context

    # Accesses ----------------------------------------------------------------------

    def read(self, ptr: int, n: int) -> bytes:
        """A copy of the ``n`` bytes at ``ptr``."""
        if self._owner_values[self._owner_key] is None:
            raise self._dead()
        return self._core.read(self._context, ptr, n)

    def read_str(self, ptr: int, n: int, errors: str = "strict") -> str:
        """The ``n`` bytes at ``ptr`` decoded as UTF-8 (``errors`` as for ``bytes.decode``)."""
        if self._owner_values[self._owner_key] is None:
            raise self._dead()
        return self._core.read_str(self._context, ptr, n, errors)

    def read_into(self, ptr: int, buffer: Any) -> int:
        """Fill ``buffer`` (any writable, contiguous buffer) from ``ptr``; returns the bytes copied."""
        if self._owner_values[self._owner_key] is None:
            raise self._dead()
        return self._core.read_into(self._context, ptr, buffer)

    def write(self, ptr: int, data: Any) -> int:
        """Copy ``data`` (bytes, bytearray, memoryview, array.array, a NumPy array...) to ``ptr``.

        Returns the number of bytes written.  Non-contiguous buffers are
        copied in C order.
        """
        if self._owner_values[self._owner_key] is None:
            raise self._dead()
        return self._core.write(self._context, ptr, data)

    @property
    def size(self) -> int:
        """The size in bytes."""
        return self._core.bounds(self._live_context())[1]

    def __len__(self) -> int:
        return self.size

    @property
    def pages(self) -> int:
        """The size in pages."""
        pages: int = ffi.memory_size(self._live_context(), self._core.address)
        return pages

    @property
    def page_size(self) -> int:
        """The page size in bytes (65536 unless the memory declares a custom page size)."""
        size: int = ffi.memory_page_size(self._live_context(), self._core.address)
        return size

    def grow(self, delta: int) -> int:
        """Grow by ``delta`` pages; returns the previous size in pages.

        Raises ``wasmtime.WasmtimeError`` when the memory cannot grow, and
        ``BufferError`` while a :meth:`view` of it is held.
        """
        return self._core.grow(self._live_context(), delta)

    def view(self, ptr: int, n: int) -> "_View":
        """``with memory.view(ptr, n) as view:`` a writable ``memoryview`` of the memory itself.

        Released when the block ends (see :mod:`wasmjit.boundary.memories` for the
        rules: nothing derived from it may outlive the block, and wasm must
        not run inside it).
        """
        return _View(self, ptr, n)

    @property
    def memory(self) -> wasmtime.Memory:
        """The same memory as a ``wasmtime.Memory``."""
        memory = wasmtime_py.memory_from_handle(self._core.handle)
        memory.__dict__[CORE_ATTRIBUTE] = self._core
        return memory

    def __repr__(self) -> str:
        context = self._context_if_live()
        if context is None:
            return f"<wasmjit.Memory (invalid: {_dead_message(self._owner)})>"
        return f"<wasmjit.Memory of {self._core.bounds(context)[1]} bytes>"


def _dead_message(owner: Any) -> str:
    if isinstance(owner, wasmtime.Caller):
        return "caller is no longer valid (its callback returned)"
    return "the store is closed"


_DEFAULT_NAME = "memory"


def caller_memory(caller: Caller, name: str = _DEFAULT_NAME) -> Memory:
    """``caller.memory(name)``: the calling instance's exported memory, valid during the call."""
    address = caller._address
    if address is None:
        raise ValueError(_dead_message(caller))
    if name is _DEFAULT_NAME:
        data = b"memory"
    elif isinstance(name, str):
        data = name.encode("utf-8")
    else:
        raise TypeError(f"the export name must be a str, not {type(name).__name__}")
    core = caller_core(address, data, name)
    memory: Memory = _new_object(Memory)
    memory._core = core
    memory._context = core.context  # type: ignore[assignment] # set by caller_core
    memory._owner = caller
    memory._owner_values = caller.__dict__
    memory._owner_key = "_address"
    return memory


_new_object = object.__new__
