"""The description of a trampoline: value kinds, signatures, plans and the IR.

Nothing here calls into wasm.  :mod:`.kinds` and :mod:`.signature` say what
crosses the boundary; :mod:`.plan` says, once per signature and direction,
everything a trampoline does, and lowers it to a program of :mod:`.ir`,
which the backends (:mod:`wasmjit.backends`) render.
"""
