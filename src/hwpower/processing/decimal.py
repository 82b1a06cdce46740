"""Exact decimal arithmetic on arrays: ``value = sig * 10**exp`` with int64 significands.

Targets are written with a few significant digits (``%.6g``) and parsed by a correctly rounding parser,
so each float64 is the double nearest a short decimal. :func:`to_decimal` finds that decimal, and
:func:`from_decimal` gives the float back by Clinger's fast path: with ``|sig| < 2**53`` and
``|exp| <= 22`` both ``sig`` and ``10**|exp|`` are exact doubles, so one IEEE multiply (or divide)
returns the double nearest the decimal -- the parser's float, bit for bit.

Sums, products, rounding to D digits (half away from zero) and residuals against a rounded reference
are exact (int64, or doubles where every step is provably exact); a step that could overflow raises
``OverflowError`` rather than answer wrongly. How the dataset stores its targets with these is
:mod:`.targets`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

DIGIT_CHOICES = (6, 9, 12, 15)  # 15 digits keep |sig| < 2**53, the limit of exact decoding
MAX_EXP = 22  # 10**22 is the largest power of ten a double holds exactly
_POW_F = np.concatenate([10.0 ** np.arange(MAX_EXP + 1), 10.0 ** np.arange(MAX_EXP, 0, -1)])  # [n]: 10**|n|
_POW_I = 10 ** np.arange(19, dtype=np.int64)
_LIMIT = 10**18  # int64 significands stay below this, so a sum of two or a rounding step cannot overflow
_I16 = np.iinfo(np.int16)
# By a double's biased binary exponent e: floor(log10(2**e)) + 1, which is floor(log10) of the double or one more.
_DIGITS_OF_BINADE = np.maximum(np.floor((np.arange(2048) - 1023) * np.log10(2)) + 1, 0).astype(np.intp)


@dataclass(frozen=True)
class Decimal:
    """``value[i] = sig[i] * 10**exp[i]`` exactly (int64 arrays of one length)."""
    sig: np.ndarray
    exp: np.ndarray


def _check_digits(digits: int) -> None:
    if not 1 <= digits <= 15:
        raise ValueError(f"digits must be 1..15 (exact decoding needs |sig| < 2**53), got {digits}")


def _powers(exp: np.ndarray) -> tuple[np.ndarray, bool | np.ndarray]:
    """Exact doubles ``10**|exp|`` and where ``exp >= 0`` (a plain bool when all rows agree, the usual case)."""
    lo, hi = (int(exp.min()), int(exp.max())) if exp.size else (0, 0)
    if lo < -MAX_EXP or hi > MAX_EXP:
        raise ValueError(f"decimal exponent outside +-{MAX_EXP}: not exactly decodable")
    return _POW_F.take(exp), (lo >= 0) if lo >= 0 or hi < 0 else exp >= 0


def _scale(x: np.ndarray, p: np.ndarray, up: bool | np.ndarray, out: np.ndarray) -> np.ndarray:
    """``x * 10**exp`` given ``_powers(exp)`` (pass ``up`` inverted for ``x / 10**exp``): one correctly
    rounded multiply or divide by an exact power per value."""
    if isinstance(up, bool):
        return np.multiply(x, p, out=out) if up else np.divide(x, p, out=out)
    np.divide(x, p, out=out, where=~up)
    return np.multiply(x, p, out=out, where=up)


def from_decimal(d: Decimal, out: np.ndarray | None = None) -> np.ndarray:
    """float64 values, bit-identical to what a correctly rounding parser returns for the decimals."""
    sig = np.asarray(d.sig)
    if sig.size and (sig.min() <= -2**53 or sig.max() >= 2**53):
        raise ValueError("significand of 2**53 or more: not exactly decodable")
    p, up = _powers(np.asarray(d.exp).astype(np.intp, copy=False))
    return _scale(sig.astype(np.float64), p, up, p if out is None else out)


def to_decimal(values: np.ndarray, digits: int) -> Decimal | None:
    """Exactly ``digits`` significant digits per value (zero: sig 0, exp 0), or None when a value is
    not finite, is -0.0 (it would come back as +0.0), needs more digits or needs ``|exp| > 22``."""
    found = decimal_parts(values, digits)
    return None if found is None else Decimal(found[0].astype(np.int64), found[1])


def decimal_parts(values: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``to_decimal`` with the significands still doubles (the caller casts them once, to what it stores)."""
    _check_digits(digits)
    v = np.asarray(values, dtype=np.float64)
    if not v.size:
        return np.zeros(0), np.zeros(0, np.int64)
    a, zero = v, None
    if not (v.min() > 0 and v.max() < np.inf):  # the usual case needs no abs and no zero mask
        a = np.abs(v)
        zero = v == 0
        if not a.max() < np.inf or np.signbit(v[zero]).any():  # NaN, infinity or -0.0
            return None
        v, a = np.where(zero, 1.0, v), np.where(zero, 1.0, a)
    # log10 once, less a margin over its error: never a decade high (rint could hide that); a decade
    # low just above a power of ten, where the significand comes out >= 10**digits and is redone.
    lg = np.log10(a)
    lg -= digits - 1 + 1e-12
    exp = np.floor(lg, out=lg).astype(np.int64)
    for _ in range(2):
        if exp.min() < -MAX_EXP or exp.max() > MAX_EXP:  # such rows then fail the range check
            exp = np.clip(exp, -MAX_EXP, MAX_EXP)
        p, up = _powers(exp)
        sig = _scale(v, p, ~up if not isinstance(up, bool) else not up, np.empty_like(v))
        sig = np.rint(sig, out=sig)  # |error| < 0.25 for up to 15 digits, so this is the decimal's
        m = sig if sig.min() > 0 else np.abs(sig)
        if m.min() < _POW_I[digits - 1]:
            return None  # needs an exponent below -22
        if m.max() < _POW_I[digits]:
            break
        exp = exp + (m >= _POW_I[digits])
    else:
        return None
    if not np.array_equal(_scale(sig, p, up, p), v):
        return None
    if zero is not None:
        sig[zero], exp[zero] = 0, 0
    return sig, exp


def find_decimal(values: np.ndarray, max_digits: int = 15) -> tuple[Decimal, int] | None:
    """The first of 6, 9, 12, 15 digits (up to ``max_digits``) that holds every value exactly."""
    for digits in DIGIT_CHOICES:
        if digits > max_digits:
            break
        if (d := to_decimal(values, digits)) is not None:
            return d, digits
    return None


def _absmax(x: np.ndarray) -> int:
    return max(-int(x.min()), int(x.max())) if x.size else 0


def _scaled(sig: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``sig * 10**shift`` (shift >= 0) exactly, in a new array; ``OverflowError`` where it could reach 1e18."""
    hi = int(shift.max()) if shift.size else 0
    if hi > 18 or _absmax(sig) * 10**hi >= _LIMIT:  # the bound for all rows failed: check row by row
        estimate = np.abs(sig).astype(np.float64) * _POW_F.take(np.minimum(shift, MAX_EXP))  # >= 1e18 iff exact is
        if ((sig != 0) & ((shift > 18) | (estimate >= 1e18))).any():
            raise OverflowError("decimal significand would reach 1e18")
        shift = np.minimum(shift, 18)
    p = _POW_I.take(shift)
    return np.multiply(sig, p, out=p)


def dec_sum(a: Decimal, b: Decimal) -> Decimal:
    """Exact ``a + b``, aligned to the smaller exponent."""
    exp = np.minimum(a.exp, b.exp)
    sig = _scaled(a.sig, shift := a.exp - exp)
    sig += _scaled(b.sig, np.subtract(b.exp, exp, out=shift))
    return Decimal(sig, exp)


def dec_product(a: Decimal, b: Decimal) -> Decimal:
    """Exact ``a * b`` (two 9-digit significands fit: < 1e18)."""
    if _absmax(a.sig) * _absmax(b.sig) >= _LIMIT:
        if (np.abs(a.sig.astype(np.float64) * b.sig.astype(np.float64)) >= 1e18).any():
            raise OverflowError("decimal product would reach 1e18")
    return Decimal(a.sig * b.sig, a.exp + b.exp)


@functools.cache
def _round_tables(digits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """By digit count - 1: the power of ten a rounding to ``digits`` divides by (double, int64), and the
    one a shorter value is padded with."""
    drop = np.arange(18) + 1 - digits
    return 10.0 ** np.maximum(drop, 0), 10 ** np.maximum(drop, 0), 10 ** np.maximum(-drop, 0)


def dec_round(x: Decimal, digits: int) -> Decimal:
    """``x`` to exactly ``digits`` significant digits, half away from zero, exactly (so encoder and
    decoder agree bit for bit on any machine). Zero: sig 0, exp 0."""
    _check_digits(digits)
    if _absmax(x.sig) >= _LIMIT:
        raise OverflowError("significand of 1e18 or more")
    negative = x.sig.size and x.sig.min() < 0
    s = np.abs(x.sig) if negative else x.sig
    top, zeros = (int(s.max()), s.min() == 0) if s.size else (0, False)
    f = s.astype(np.float64)
    nd1 = _DIGITS_OF_BINADE.take(f.view(np.int64) >> 52)  # digit count - 1, or one more:
    t = _POW_I.take(nd1)
    t = np.subtract(s, t, out=t)
    t >>= 63  # -1 where s < 10**nd1
    nd1 += t
    if zeros:
        np.maximum(nd1, 0, out=nd1)
    q_float, q_int, pad = _round_tables(digits)
    if top < 2**51:  # floor((2s + q) / 2q) in doubles: the numerator is exact, and so is the quotient's floor
        q = q_float.take(nd1)
        f *= 2
        f += q
        q *= 2
        f /= q
        r = np.floor(f, out=f).astype(np.int64)
    else:
        q = q_int.take(nd1)
        r = np.right_shift(q, 1)  # q is 1 (+0) or a multiple of 10: an exact half
        r += s
        r //= q
    if s.size and nd1.min() < digits - 1:
        r *= pad.take(nd1)
    exp = np.add(x.exp, nd1, out=nd1)
    exp -= digits - 1
    if r.size and r.max() >= _POW_I[digits]:  # 999999.5 -> 1000000: drop the trailing zero
        carry = r >= _POW_I[digits]
        r[carry] //= 10
        exp[carry] += 1
    if zeros:
        exp[s == 0] = 0
    if negative:
        np.negative(r, out=r, where=x.sig < 0)
    return Decimal(r, exp)


def residual(actual: Decimal, reference: Decimal, digits: int) -> np.ndarray | None:
    """int16 ``k = (actual - r) / 10**(r.exp - 1)`` with ``r = dec_round(reference, digits)`` (one digit
    finer than r, so 0.999999 against 1.00000 fits), or None when some k is not an integer, does not fit
    int16, or a step would overflow int64."""
    try:
        return residual_of_rounded(actual, dec_round(reference, digits))
    except OverflowError:
        return None


def residual_of_rounded(actual: Decimal, r: Decimal) -> np.ndarray | None:
    shift = np.subtract(actual.exp, r.exp, dtype=np.int64)
    shift += 1
    sig = actual.sig
    if shift.size and shift.min() < 0:  # digits finer than r's last but one: they must be zeros
        q = _POW_I.take(np.minimum(-shift, 18).clip(0))
        if ((sig % q != 0) | ((shift < -18) & (sig != 0))).any():
            return None
        sig, shift = sig // q, np.maximum(shift, 0)
    try:
        k = _scaled(sig, shift)
    except OverflowError:
        return None
    k -= np.multiply(r.sig, 10, out=shift)
    if k.size and (k.min() < _I16.min or k.max() > _I16.max):
        return None
    return k.astype(np.int16)


def apply_residual(reference: Decimal, k: np.ndarray, digits: int) -> Decimal:
    """Inverse of ``residual``: the actual decimal (value-exact, decodable)."""
    return apply_k(dec_round(reference, digits), k)


def apply_k(r: Decimal, k: np.ndarray) -> Decimal:
    """``r + k * 10**(r.exp - 1)``, built in place in ``r`` (which the caller gives up). Where that would
    not decode exactly (|sig| >= 2**53 at 15 digits, or exp -23), rows with k a multiple of 10 keep r's
    exponent instead."""
    if r.sig.size and (_absmax(r.sig) * 10 + _I16.max >= 2**53 or r.exp.min() <= -MAX_EXP):
        k = np.asarray(k).astype(np.int64)
        tens = k % 10 == 0
        return Decimal(np.where(tens, r.sig + k // 10, r.sig * 10 + k), np.where(tens, r.exp, r.exp - 1))
    sig, exp = r.sig, r.exp
    sig *= 10
    sig += k
    exp -= 1
    return r
