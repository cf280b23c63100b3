"""NumPy's PCG64 stream stepped inline in numba kernels (the relocation kernels' hot draws).

A ``numpy.random.Generator`` passed to a numba kernel draws through a function pointer into
NumPy, about 7 ns a draw, a fifth of the relocation kernels' time. For a Generator on
``numpy.random.PCG64`` (what ``numpy.random.default_rng`` and Mesa's ``Model(rng=...)``
build) :func:`stream_of` copies its state into a ``uint64[6]`` array, the kernels step that
array inline (:func:`uniform`, :func:`shuffle`) and :func:`restore` writes it back: the same
numbers as the Generator's own ``random()`` and ``shuffle()``, bit for bit, and the Generator
ends in the state it would have reached (tested). Any other bit generator is passed through
unchanged and drawn from as before.

The generator is PCG-XSL-RR 128/64 (O'Neill 2014), as in NumPy's ``pcg64.h``: a 128-bit LCG
``s <- s * M + inc`` whose output is ``rotr64(hi(s) ^ lo(s), s >> 122)``; doubles are
``(out >> 11) * 2**-53``; 32-bit draws (bounded integers of ``shuffle``) use each 64-bit
output twice, low half first (``has_uint32``/``uinteger``).

Layout of the array: ``[state_hi, state_lo, inc_hi, inc_lo, has_uint32, uinteger]``.

References
----------
O'Neill, M. E. (2014). PCG: A family of simple fast space-efficient statistically good
algorithms for random number generation. Technical report HMC-CS-2014-0905, Harvey Mudd
College.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic, overload

_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1
_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG_DEFAULT_MULTIPLIER_128
_MULT_HI = np.uint64(_MULT >> 64)
_MULT_LO = np.uint64(_MULT & _MASK64)


def stream_of(rng: np.random.Generator) -> np.ndarray | None:
    """The state of a PCG64 Generator as ``uint64[6]``, or None for another bit generator."""
    bg = rng.bit_generator
    if type(bg) is not np.random.PCG64:
        return None
    st = bg.state
    s, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    return np.array(
        [s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, st["has_uint32"], st["uinteger"]],
        dtype=np.uint64,
    )


def restore(rng: np.random.Generator, stream: np.ndarray) -> None:
    """Write the state stepped by a kernel back into the Generator it came from."""
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {
            "state": (int(stream[0]) << 64) | int(stream[1]),
            "inc": (int(stream[2]) << 64) | int(stream[3]),
        },
        "has_uint32": int(stream[4]),
        "uinteger": int(stream[5]),
    }


# --------------------------------------------------------------------------------- pure Python
# (what the kernels' ``py_func`` run; Python integers, so nothing overflows)


def _py_next64(st):
    s = (int(st[0]) << 64) | int(st[1])
    inc = (int(st[2]) << 64) | int(st[3])
    s = (s * _MULT + inc) & _MASK128
    st[0], st[1] = s >> 64, s & _MASK64
    x = ((s >> 64) ^ s) & _MASK64
    rot = s >> 122
    return ((x >> rot) | (x << ((64 - rot) & 63))) & _MASK64


def _py_next32(st):
    if st[4]:
        st[4] = 0
        return int(st[5])
    x = _py_next64(st)
    st[4] = 1
    st[5] = x >> 32
    return x & 0xFFFFFFFF


def _py_interval(st, max_val):
    """NumPy's ``random_interval``: uniform integer in [0, max_val] by masked rejection."""
    if max_val == 0:
        return 0
    mask = (1 << max_val.bit_length()) - 1
    draw = _py_next32 if max_val <= 0xFFFFFFFF else _py_next64
    while True:
        value = draw(st) & mask
        if value <= max_val:
            return value


def uniform(rng):
    """One double in [0, 1): ``rng.random()`` for a Generator, else from a PCG64 stream."""
    if isinstance(rng, np.random.Generator):
        return rng.random()
    return (_py_next64(rng) >> 11) * (1.0 / 9007199254740992.0)


def shuffle(rng, x):
    """``rng.shuffle(x)`` for a Generator, else the same Fisher-Yates from a PCG64 stream."""
    if isinstance(rng, np.random.Generator):
        rng.shuffle(x)
        return
    for i in range(x.size - 1, 0, -1):
        j = _py_interval(rng, i)
        if i != j:
            x[i], x[j] = x[j], x[i]


# --------------------------------------------------------------------------------- numba


@intrinsic
def _umulhi(typingctx, a, b):
    """High 64 bits of the 128-bit product of two uint64."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))

    return sig, codegen


@njit(cache=True)
def _next64(st):
    sh = st[0]
    sl = st[1]
    lo = sl * _MULT_LO
    hi = _umulhi(sl, _MULT_LO) + sl * _MULT_HI + sh * _MULT_LO
    lo2 = lo + st[3]
    hi2 = hi + st[2] + np.uint64(lo2 < lo)
    st[0] = hi2
    st[1] = lo2
    rot = hi2 >> np.uint64(58)
    x = hi2 ^ lo2
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(cache=True)
def _next32(st):
    if st[4] != 0:
        st[4] = 0
        return st[5]
    x = _next64(st)
    st[4] = 1
    st[5] = x >> np.uint64(32)
    return x & np.uint64(0xFFFFFFFF)


@njit(cache=True)
def _interval(st, max_val):
    if max_val == 0:
        return np.uint64(0)
    mx = np.uint64(max_val)
    mask = mx
    mask |= mask >> np.uint64(1)
    mask |= mask >> np.uint64(2)
    mask |= mask >> np.uint64(4)
    mask |= mask >> np.uint64(8)
    mask |= mask >> np.uint64(16)
    mask |= mask >> np.uint64(32)
    if mx <= np.uint64(0xFFFFFFFF):
        value = _next32(st) & mask
        while value > mx:
            value = _next32(st) & mask
    else:
        value = _next64(st) & mask
        while value > mx:
            value = _next64(st) & mask
    return value


@overload(uniform)
def _uniform_numba(rng):
    if isinstance(rng, types.NumPyRandomGeneratorType):
        return lambda rng: rng.random()
    if isinstance(rng, types.Array):

        def impl(rng):
            return np.float64(_next64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)

        return impl


@overload(shuffle)
def _shuffle_numba(rng, x):
    if isinstance(rng, types.NumPyRandomGeneratorType):

        def gen(rng, x):
            rng.shuffle(x)

        return gen
    if isinstance(rng, types.Array):

        def impl(rng, x):
            for i in range(x.size - 1, 0, -1):
                j = np.int64(_interval(rng, i))
                if i != j:
                    t = x[i]
                    x[i] = x[j]
                    x[j] = t

        return impl
