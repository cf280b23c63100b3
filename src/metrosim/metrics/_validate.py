"""Input checks shared by the metric modules.

Every check raises :class:`ValueError` with a message that names the argument, shows the
offending value and states what is allowed. The helpers return clean numpy arrays so the
metric functions can assume valid input.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

_NUMERIC_KINDS = "biuf"


def _array(name: str, a: Any) -> np.ndarray:
    """``np.asarray(a)`` checked to hold real numbers (bool, integer or float)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(
            f"{name} must hold real numbers (bool, integer or float); got dtype {arr.dtype}"
        )
    return arr


def _where(arr: np.ndarray, bad: np.ndarray) -> str:
    """Describe the first position where ``bad`` is True, e.g. ``-1.0 at index (3, 0)``."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    shown = idx[0] if len(idx) == 1 else idx
    return f"{arr[idx].item()!r} at index {shown}"


def nonnegative(name: str, a: Any, *, ndim: int, shape_hint: str) -> np.ndarray:
    """A finite, non-negative float64 array with ``ndim`` dimensions and no empty axis.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    a : array_like
        The input.
    ndim : int
        Required number of dimensions.
    shape_hint : str
        Human-readable expected shape, e.g. ``"(n_units, n_groups)"``.

    Returns
    -------
    numpy.ndarray
        ``a`` as float64 (no copy when it already is float64).
    """
    arr = _array(name, a)
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {shape_hint}; "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty (shape {shape_hint}); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        ok = arr >= 0  # False for NaN and negatives
        if not ok.all():
            bad = ~ok
            raise ValueError(
                f"{name} must be non-negative finite numbers; found {_where(arr, bad)}"
            )
        if np.isinf(arr).any():
            raise ValueError(
                f"{name} must be non-negative finite numbers; found {_where(arr, np.isinf(arr))}"
            )
    elif arr.dtype.kind == "i":
        neg = arr < 0
        if neg.any():
            raise ValueError(f"{name} must be non-negative numbers; found {_where(arr, neg)}")
    return arr.astype(np.float64, copy=False)


def counts(name: str, a: Any, *, min_groups: int = 1, exact_groups: int | None = None):
    """Validated ``(n_units, n_groups)`` counts as float64.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    a : array_like
        Counts of people (or households) per unit and group.
    min_groups : int
        Smallest allowed number of columns.
    exact_groups : int, optional
        Required number of columns.

    Returns
    -------
    numpy.ndarray
        Float64 counts of shape ``(n_units, n_groups)``.
    """
    arr = nonnegative(name, a, ndim=2, shape_hint="(n_units, n_groups)")
    k = arr.shape[1]
    if exact_groups is not None and k != exact_groups:
        raise ValueError(
            f"{name} must have exactly {exact_groups} group columns; got shape {arr.shape} "
            f"({k} groups). Select two columns first, e.g. counts[:, [0, 4]]."
        )
    if k < min_groups:
        raise ValueError(
            f"{name} must have at least {min_groups} group columns; got shape {arr.shape}"
        )
    return arr


def populated(name: str, c: np.ndarray, *extra: np.ndarray):
    """Drop zero-population rows; raise if nobody lives in the study area.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    c : numpy.ndarray
        Validated 2-D counts.
    *extra : numpy.ndarray
        Arrays aligned with the rows of ``c`` that are filtered the same way.

    Returns
    -------
    tuple
        ``(c, t, *extra)`` restricted to rows with positive total ``t``.
    """
    t = c.sum(axis=1)
    keep = t > 0
    if not keep.any():
        raise ValueError(
            f"{name} has zero total population (all {c.shape[0]} units are empty); "
            "at least one unit must have a positive count"
        )
    if keep.all():
        return (c, t, *extra)
    return (c[keep], t[keep], *(e[keep] for e in extra))


def integer(name: str, value: Any, *, low: int, high: int) -> int:
    """An integer in ``[low, high)``; bools and floats are rejected."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer in [{low}, {high - 1}]; got {value!r} "
            f"of type {type(value).__name__}"
        )
    v = int(value)
    if not low <= v < high:
        raise ValueError(f"{name} must be an integer in [{low}, {high - 1}]; got {v}")
    return v


def labels(name: str, a: Any, *, length: int, length_name: str, n: int | None = None):
    """A 1-D array of non-negative integer labels of the given length (as intp).

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    a : array_like
        Labels, e.g. the commune of each cell.
    length : int
        Required length.
    length_name : str
        What the length refers to, e.g. ``"n_units"``.
    n : int, optional
        When given, labels must be smaller than ``n``.

    Returns
    -------
    numpy.ndarray
        The labels as ``np.intp``.
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array; got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(
            f"{name} must be a 1-D array of length {length_name} = {length}; got shape {arr.shape}"
        )
    if arr.size:
        neg = arr < 0
        if neg.any():
            raise ValueError(
                f"{name} must be non-negative region labels; found {_where(arr, neg)}. "
                "Drop cells outside every region before calling."
            )
        if n is not None:
            big = arr >= n
            if big.any():
                raise ValueError(
                    f"{name} must be labels in [0, {n - 1}] (n_regions = {n}); "
                    f"found {_where(arr, big)}"
                )
    return arr.astype(np.intp, copy=False)


def mask(name: str, a: Any, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A 2-D boolean mask (bool dtype, or numbers that are all 0 or 1).

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    a : array_like
        The mask.
    shape : tuple of int, optional
        Required shape (that of the reference mask).

    Returns
    -------
    numpy.ndarray
        The mask as bool.
    """
    arr = _array(name, a)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D boolean grid of shape (ny, nx); "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have the grid's shape {shape}; got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if arr.dtype.kind != "b":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise ValueError(
                f"{name} must be boolean (True/False or 0/1); found {_where(arr, bad)}"
            )
        arr = arr.astype(bool)
    return arr


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite positive (or non-negative) real scalar."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    ok = v >= 0 if allow_zero else v > 0
    if not (ok and np.isfinite(v)):
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return v


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """One of a fixed set of strings."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value
