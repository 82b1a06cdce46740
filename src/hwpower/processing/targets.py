"""How the processed dataset stores its targets: the storage planner over :mod:`.decimal`.

Each target is stored as an integer significand and a power-of-ten exponent with the fewest of 6, 9,
12, 15 significant digits that gives back every float64 bit for bit (lossless, and far smaller than
the float once compressed). A derived total (``P = P_core + P_bw``, ``energy_mj = P * latency_ms``) is
stored as a tiny int16 residual against the exactly computed formula rounded to the total's digits;
every residual column is decoded and compared before it is chosen. Anything else stays float64.
Tables are worked through in blocks of rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .decimal import (DIGIT_CHOICES, Decimal, apply_k, dec_product, dec_round, dec_sum, decimal_parts, from_decimal,
                      residual_of_rounded)

_ENCODINGS = ("decimal", "residual", "float64")
_BLOCK = 1 << 16  # rows per block in the table functions


@dataclass(frozen=True)
class Relation:
    """``total = parts[0] + parts[1]`` (op "sum") or ``parts[0] * parts[1]`` (op "product")."""
    total: str
    op: str
    parts: tuple[str, str]


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
        if (d := decimal_parts(values[b], digits)) is None:
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
            memo[name] = apply_k(_reference(arrays, storage, spec, b, memo), k)
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
            k = residual_of_rounded(_block_decimal(arrays, storage, total, b, memo), r)
            if k is None or not np.array_equal(from_decimal(apply_k(r, k)), values[b]):
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
