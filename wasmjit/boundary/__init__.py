"""The boundary machinery: everything between a trampoline and wasmtime.

ctypes prototypes (:mod:`.ffi`), every private name of wasmtime-py
(:mod:`.wasmtime_py`), what keeps thunks and callables alive
(:mod:`.lifetimes`), how exceptions and interrupts cross wasm
(:mod:`.errors`, :mod:`.interrupts`), the failure and exact paths
(:mod:`.failures`, :mod:`.conversions`), and guest memories and data
(:mod:`.memories`, :mod:`.guest`).
"""
