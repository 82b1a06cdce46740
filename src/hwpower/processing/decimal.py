"""Exact decimal storage of measured targets: an integer significand and a power-of-ten exponent.

Targets are written with a few significant digits (``%.6g``) and parsed by a correctly rounding parser,
so each float64 is the double nearest a short decimal. Storing that decimal is lossless and compresses
far better than the float. Decoding is Clinger's fast path: with ``|sig| < 2**53`` and ``|exp| <= 22``
both ``sig`` and ``10**|exp|`` are exact doubles, so one IEEE multiply (or divide) returns the double
nearest the decimal -- the parser's float, bit for bit.

A derived total (``P = P_core + P_bw``, ``energy_mj = P * latency_ms``) is stored as a tiny int16
residual against the exactly computed formula rounded to the total's digits. Decimal arithmetic is
exact (int64, or doubles where every step is provably exact); a step that could overflow raises
``OverflowError`` rather than answer wrongly, and every residual column is decoded and compared before
it is chosen.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
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
_ENCODINGS = ("decimal", "residual", "float64")
_BLOCK = 1 << 16  # rows per block in the table functions


@dataclass(frozen=True)
class Decimal:
    """``value[i] = sig[i] * 10**exp[i]`` exactly (int64 arrays of one length)."""
    sig: np.ndarray
    exp: np.ndarray


@dataclass(frozen=True)
class Relation:
    """``total = parts[0] + parts[1]`` (op "sum") or ``parts[0] * parts[1]`` (op "product")."""
    total: str
    op: str
    parts: tuple[str, str]


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
    found = _to_decimal(values, digits)
    return None if found is None else Decimal(found[0].astype(np.int64), found[1])


def _to_decimal(values: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray] | None:
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
        return _residual(actual, dec_round(reference, digits))
    except OverflowError:
        return None


def _residual(actual: Decimal, r: Decimal) -> np.ndarray | None:
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
    return _apply_k(dec_round(reference, digits), k)


def _apply_k(r: Decimal, k: np.ndarray) -> Decimal:
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


def _ordered(relations: Sequence[Relation]) -> list[Relation]:
    """Relations in decoding order: one whose part is another's total comes after it."""
    pending, out = list(relations), []
    while pending:
        waiting = {r.total for r in pending}
        ready = [r for r in pending if not waiting.intersection(r.parts)]
        if not ready:
            raise ValueError(f"target relations form a cycle: {pending}")
        out += ready
        pending = [r for r in pending if r not in ready]
    return out


def _blocks(n: int) -> list[slice]:
    """Row blocks: a block's temporaries stay in cache and are reused by malloc, where whole-column
    temporaries (8 MB at 1e6 rows) cost more in page faults than the arithmetic (about 2x here)."""
    return [slice(i, min(i + _BLOCK, n)) for i in range(0, n, _BLOCK)]


def _decimal_columns(values: np.ndarray, digits: int) -> list[np.ndarray] | None:
    """The stored (sig, exp10) columns of ``values`` at ``digits``, or None unless every value is exact."""
    sig, exp = np.empty(len(values), np.int32 if digits <= 9 else np.int64), np.empty(len(values), np.int8)
    for b in _blocks(len(values)):
        if (d := _to_decimal(values[b], digits)) is None:
            return None
        sig[b], exp[b] = d
    return [sig, exp]


def _block_decimal(arrays: Mapping, storage: Mapping[str, dict], name: str, b: slice, memo: dict) -> Decimal:
    """Rows ``b`` of ``name`` as the decoder rebuilds them (parts first, each once per block): the
    encoder checks residuals against exactly this."""
    if name not in memo:
        spec = storage[name]
        if spec["encoding"] == "decimal":
            memo[name] = Decimal(*(np.asarray(arrays[c][b]).astype(np.int64) for c in spec["columns"]))
        else:
            k = np.asarray(arrays[spec["columns"][0]][b])
            memo[name] = _apply_k(_reference(arrays, storage, spec, b, memo), k)
    return memo[name]


def _reference(arrays: Mapping, storage: Mapping[str, dict], spec: dict, b: slice, memo: dict) -> Decimal:
    """Rows ``b`` of a residual's formula, rounded to the total's digits."""
    a, c = (_block_decimal(arrays, storage, p, b, memo) for p in spec["parts"])
    return dec_round(dec_sum(a, c) if spec["op"] == "sum" else dec_product(a, c), spec["digits"])


def _residual_column(arrays: dict, storage: dict, spec: dict, total: str, values: np.ndarray) -> np.ndarray | None:
    """int16 residuals of ``total`` (still decimal in ``storage``) under ``spec``, or None unless every
    block fits and decodes back to ``values`` bit-exactly."""
    out = np.empty(len(values), np.int16)
    for b in _blocks(len(values)):
        memo: dict = {}
        try:
            r = _reference(arrays, storage, spec, b, memo)
            k = _residual(_block_decimal(arrays, storage, total, b, memo), r)
            if k is None or not np.array_equal(from_decimal(_apply_k(r, k)), values[b]):
                return None
        except (OverflowError, ValueError):
            return None
        out[b] = k
    return out


def _plan(tables: list[Mapping[str, np.ndarray]], relations: Sequence[Relation],
          storage: dict[str, dict] | None) -> tuple[dict[str, dict], list[dict[str, np.ndarray]]]:
    """The storage (chosen when ``storage`` is None, else checked: ``ValueError`` when the data does not
    fit it) and every table's stored arrays."""
    tables = [{n: np.asarray(v, dtype=np.float64) for n, v in t.items()} for t in tables]
    names = list(tables[0])
    if any(set(t) != set(names) for t in tables) or (storage is not None and set(storage) != set(names)):
        raise ValueError("tables and storage must name the same targets")
    if storage is not None and any(s.get("encoding") not in _ENCODINGS for s in storage.values()):
        raise ValueError(f"unknown target encoding in storage (not one of {_ENCODINGS})")
    plan: dict[str, dict] = {}
    stored: list[dict[str, np.ndarray]] = [{} for _ in tables]
    for name in names:  # decimal where exact (residual totals too: their decimals are the "actual")
        spec = storage[name] if storage is not None else {"encoding": "auto", "digits": None}
        for digits in DIGIT_CHOICES if spec["encoding"] == "auto" else [spec.get("digits")] * ("digits" in spec):
            if None not in (cols := [_decimal_columns(t[name], digits) for t in tables]):
                plan[name] = {"encoding": "decimal", "digits": digits, "columns": [f"{name}__sig", f"{name}__exp10"]}
                for out, c in zip(stored, cols):
                    out.update(zip(plan[name]["columns"], c))
                break
        else:
            if spec["encoding"] not in ("auto", "float64"):
                raise ValueError(f"target {name!r} is not exact with {spec.get('digits')} significant digits")
            plan[name] = {"encoding": "float64", "columns": [name]}
            for out, t in zip(stored, tables):
                out[name] = t[name]
    if storage is not None:
        relations = [Relation(t, s["op"], tuple(s["parts"])) for t, s in storage.items() if s["encoding"] == "residual"]
    for rel in _ordered([r for r in relations if {r.total, *r.parts} <= set(names)]):
        if rel.op not in ("sum", "product"):
            raise ValueError(f"unknown relation op {rel.op!r}")
        spec = {"encoding": "residual", "digits": plan[rel.total].get("digits"), "op": rel.op,
                "parts": list(rel.parts), "columns": [f"{rel.total}__residual"]}
        ks = None
        if plan[rel.total]["encoding"] == "decimal" and all(plan[p]["encoding"] != "float64" for p in rel.parts):
            ks = [_residual_column(out, plan, spec, rel.total, t[rel.total]) for out, t in zip(stored, tables)]
        if ks is None or any(k is None for k in ks):
            if storage is not None:
                raise ValueError(f"target {rel.total!r} does not fit an int16 residual of {rel.op} {rel.parts}")
            continue
        for out, k in zip(stored, ks):
            out[spec["columns"][0]] = k
        plan[rel.total] = spec
    if storage is not None and json.dumps(plan, sort_keys=True) != json.dumps(storage, sort_keys=True):
        raise ValueError("storage differs from what this encoder writes for it")
    return plan, [{c: out[c] for s in plan.values() for c in s["columns"]} for out in stored]


def choose_storage(columns_list: list[Mapping[str, np.ndarray]], relations: Sequence[Relation]) -> dict[str, dict]:
    """One storage that holds every table (train and val) exactly."""
    return _plan(columns_list, relations, None)[0]


def encode_tables(columns_list: list[Mapping[str, np.ndarray]], relations: Sequence[Relation],
                  storage: dict[str, dict] | None = None) -> tuple[list[dict[str, np.ndarray]], dict[str, dict]]:
    """Every table's stored arrays under one storage, in one pass (choose_storage + encode_targets twice
    does the work twice)."""
    plan, arrays = _plan(columns_list, relations, storage)
    return arrays, plan


def encode_targets(columns: Mapping[str, np.ndarray], relations: Sequence[Relation],
                   storage: dict[str, dict] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Stored arrays and per-target storage (``storage`` forces one: ``ValueError`` if it cannot hold the
    data). Decimal where exact, int16 residual for a total of decimal parts where every row fits, else float64."""
    plan, arrays = _plan([columns], relations, storage)
    return arrays[0], plan


def decode_targets(arrays: Mapping[str, np.ndarray], storage: dict[str, dict]) -> dict[str, np.ndarray]:
    """float64 targets, bit-identical to the encoded ones (block by block, residual parts first)."""
    _ordered([Relation(t, s["op"], tuple(s["parts"])) for t, s in storage.items() if s["encoding"] == "residual"])
    n = len(arrays[next(iter(storage.values()))["columns"][0]]) if storage else 0
    out = {name: np.empty(n) for name in storage}
    for b in _blocks(n):
        memo: dict = {}
        for name, spec in storage.items():
            if spec["encoding"] == "float64":
                out[name][b] = arrays[spec["columns"][0]][b]
            else:
                from_decimal(_block_decimal(arrays, storage, name, b, memo), out=out[name][b])
    return out


def stored_target_choice_text() -> str:
    """The storage rule, for the manifest."""
    return ("each target is stored as an integer significand and a power-of-ten exponent with the fewest of "
            f"{', '.join(map(str, DIGIT_CHOICES))} significant digits that gives back every float64 value "
            "(train and val) bit-exactly; a total that is the sum or product of two such targets is stored as an "
            "int16 residual against that formula computed exactly and rounded to the total's digits, when every "
            "row fits; any other target stays float64")
