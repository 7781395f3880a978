"""Atomic operations on int64 arrays for numba kernels whose threads meet every time step.

numba has no atomics; these intrinsics emit LLVM's (``atomicrmw``, ``cmpxchg``, atomic loads
and stores), which compile to single locked or plain x86 instructions. They let the stepped
engine's worker threads hand out blocks of neurons and wait for each other's step to end
without going back through numba's thread pool, which costs tens of microseconds a step.

All take a C-contiguous ``int64`` array and an index; indices are not checked.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["fetch_add", "compare_exchange", "load_acquire", "store_release", "spin_pause",
           "yield_thread"]

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _check(arr, idx):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1
            and isinstance(idx, types.Integer)):
        raise TypeError("atomics take a 1-d int64 array and an integer index")


def _pointer(context, builder, aryty, ary, idx):
    array = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, array, [idx], wraparound=False)


@intrinsic
def fetch_add(typingctx, arr, idx, value):
    """``old = arr[idx]; arr[idx] += value; return old`` as one sequentially consistent
    atomic operation."""
    _check(arr, idx)
    sig = types.int64(arr, idx, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return sig, codegen


@intrinsic
def compare_exchange(typingctx, arr, idx, expected, desired):
    """If ``arr[idx] == expected`` set it to ``desired``; returns the value found (equal to
    ``expected`` on success). Sequentially consistent."""
    _check(arr, idx)
    sig = types.int64(arr, idx, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        exp = context.cast(builder, args[2], signature.args[2], types.int64)
        new = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(ptr, exp, new, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return sig, codegen


@intrinsic
def load_acquire(typingctx, arr, idx):
    """``arr[idx]`` read with acquire ordering (and never hoisted out of a spin loop)."""
    _check(arr, idx)
    sig = types.int64(arr, idx)

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def store_release(typingctx, arr, idx, value):
    """``arr[idx] = value`` with release ordering: writes made before it are visible to a
    thread that reads the value with :func:`load_acquire`."""
    _check(arr, idx)
    sig = types.void(arr, idx, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def spin_pause(typingctx):
    """A hint that the thread is spinning (x86 ``pause``; nothing elsewhere)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module,
                                                ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def yield_thread(typingctx):
    """Give the core to another thread (POSIX ``sched_yield``): for a thread that has spun
    long enough that the one it waits for is probably not running."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen
