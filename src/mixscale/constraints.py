r"""Constraints on the mixture: what real pre-training forbids, as a polytope inside the simplex.

* ``bounds={"forum": (0, 0.05)}``: :math:`\ell_d \le w_d \le u_d`;
* ``fixed={"math": 0.02}``: :math:`w_d = c_d`;
* token availability ``tokens={"code": 40e9}`` with ``max_epochs`` (a number, or per domain; default 1) and the
  target run's planned tokens :math:`D^*` (the target rung's ``tokens_per_step × steps`` unless
  ``target_tokens`` is given): a run of :math:`D^*` tokens sees domain :math:`d` for :math:`w_d D^* / T_d`
  epochs, so :math:`w_d \le e_d T_d / D^*`;
* general linear constraints ``linear=["code + math <= 0.3", {"weights": {"web": 1}, "min": 0.2}]``:
  :math:`a^\top w \le b` (or :math:`\ge`).

Every constraint is validated with the field it came from, and the feasible set is checked by linear programming
(SciPy's HiGHS): an empty set raises a :class:`~mixscale.errors.ValidationError` that names an irreducible
conflicting subset, found by a deletion filter (drop each constraint in turn; keep it only if the rest become
feasible without it). The same LPs give each domain's feasible range and a strictly interior centre.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixscale.errors import ValidationError
from mixscale.simplex import Polytope


@dataclass(frozen=True)
class Linear:
    """One general linear constraint :math:`\\mathrm{min} \\le \\sum_d a_d w_d \\le \\mathrm{max}`."""

    weights: tuple[tuple[str, float], ...]
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        terms = " + ".join(d if a == 1 else f"{a:g}*{d}" for d, a in self.weights)
        if self.min is not None and self.max is not None:
            return f"{self.min:g} <= {terms} <= {self.max:g}"
        return f"{terms} <= {self.max:g}" if self.max is not None else f"{terms} >= {self.min:g}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"weights": dict(self.weights)}
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        return d


@dataclass(frozen=True)
class Constraints:
    """Validated constraints, in domain order (empty = the whole simplex)."""

    bounds: tuple[tuple[str, float, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()
    tokens: tuple[tuple[str, float], ...] = ()
    max_epochs: tuple[tuple[str, float], ...] = ()
    linear: tuple[Linear, ...] = ()
    target_tokens: float | None = None

    def __bool__(self) -> bool:
        return bool(self.bounds or self.fixed or self.tokens or self.linear)

    def caps(self) -> dict[str, float]:
        r"""Token-availability caps :math:`e_d T_d / D^*` per domain with a token count."""
        epochs = dict(self.max_epochs)
        return {d: epochs.get(d, 1.0) * t / self.target_tokens for d, t in self.tokens}

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready form (the keyword arguments of :class:`~mixscale.space.Space`); ``{}`` when empty."""
        out: dict[str, Any] = {}
        if self.bounds:
            out["bounds"] = {d: [lo, hi] for d, lo, hi in self.bounds}
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        if self.tokens:
            out["tokens"] = dict(self.tokens)
            out["max_epochs"] = dict(self.max_epochs)
            out["target_tokens"] = self.target_tokens
        if self.linear:
            out["linear"] = [c.to_dict() for c in self.linear]
        return out


# ------------------------------------------------------------------------------------------------ parsing
def _number(value: Any, field: str, lo: float = 0.0, hi: float = math.inf, positive: bool = False) -> float:
    if isinstance(value, bool):
        raise ValidationError(field, f"must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < lo or x > hi or (positive and x <= 0):
        rng = "a positive finite number" if positive else f"a number in [{lo:g}, {hi:g}]"
        raise ValidationError(field, f"must be {rng}, got {value!r}")
    return x


def _per_domain(value: Any, field: str, domains: Sequence[str]) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must map domain names to values, got {type(value).__name__}")
    for d in value:
        if d not in domains:
            raise ValidationError(f"{field}.{d}", f"unknown domain (domains are {list(domains)})")
    return [(d, value[d]) for d in domains if d in value]


_TERM = re.compile(r"^\s*(?:([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*\*?\s*)?([A-Za-z_][\w.:/-]*)\s*$")


def _parse_expression(text: str, field: str) -> tuple[dict[str, float], float | None, float | None]:
    """``"code + 2*math <= 0.3"`` (terms joined by `` + `` / `` - `` with spaces; ``<=`` or ``>=``)."""
    m = re.fullmatch(r"(.+?)(<=|>=)\s*([^<>=]+)", text.strip())
    if not m:
        raise ValidationError(field, f"expected 'a + b <= number' or 'a + b >= number', got {text!r}")
    rhs = _number(m.group(3).strip(), field, -math.inf)
    weights: dict[str, float] = {}
    parts = re.split(r"\s+([+-])\s+", " + " + m.group(1).strip())
    for sign, term in zip(parts[1::2], parts[2::2], strict=True):
        t = _TERM.match(term)
        if not t:
            raise ValidationError(field, f"cannot read the term {term.strip()!r} in {text!r}")
        coef = _number(t.group(1), field, -math.inf) if t.group(1) else 1.0
        weights[t.group(2)] = weights.get(t.group(2), 0.0) + (-coef if sign.strip() == "-" else coef)
    if not weights:
        raise ValidationError(field, f"no terms in {text!r}")
    return weights, (rhs if m.group(2) == ">=" else None), (rhs if m.group(2) == "<=" else None)


def _linear(item: Any, field: str, domains: Sequence[str]) -> Linear:
    if isinstance(item, str):
        weights, lo, hi = _parse_expression(item, field)
    elif isinstance(item, Mapping):
        extra = set(item) - {"weights", "min", "max"}
        if extra:
            raise ValidationError(f"{field}.{sorted(extra)[0]}", "unknown key (known: weights, min, max)")
        if not isinstance(item.get("weights"), Mapping) or not item["weights"]:
            raise ValidationError(f"{field}.weights", "must map domain names to coefficients")
        weights = {d: _number(a, f"{field}.weights.{d}", -math.inf) for d, a in item["weights"].items()}
        lo = None if item.get("min") is None else _number(item["min"], f"{field}.min", -math.inf)
        hi = None if item.get("max") is None else _number(item["max"], f"{field}.max", -math.inf)
        if lo is None and hi is None:
            raise ValidationError(field, "needs 'min' or 'max'")
    else:
        raise ValidationError(field, f"must be 'a + b <= number' or a table with weights/min/max, got {item!r}")
    for d in weights:
        if d not in domains:
            raise ValidationError(f"{field}.{d}", f"unknown domain (domains are {list(domains)})")
    if lo is not None and hi is not None and lo > hi:
        raise ValidationError(field, f"min {lo:g} > max {hi:g}")
    return Linear(tuple((d, weights[d]) for d in domains if d in weights), lo, hi)


def parse(
    domains: Sequence[str],
    *,
    bounds: Any = None,
    fixed: Any = None,
    tokens: Any = None,
    max_epochs: Any = None,
    linear: Any = None,
    target_tokens: Any = None,
    default_target_tokens: float | None = None,
) -> Constraints:
    """Validate the ``Space`` keyword arguments into :class:`Constraints` (every error names its field)."""
    b = []
    for d, pair in _per_domain(bounds, "bounds", domains):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValidationError(f"bounds.{d}", f"must be (min, max), got {pair!r}")
        lo = 0.0 if pair[0] is None else _number(pair[0], f"bounds.{d}", 0.0, 1.0)
        hi = 1.0 if pair[1] is None else _number(pair[1], f"bounds.{d}", 0.0, 1.0)
        if lo > hi:
            raise ValidationError(f"bounds.{d}", f"min {lo:g} > max {hi:g}")
        b.append((d, lo, hi))
    fx = [(d, _number(v, f"fixed.{d}", 0.0, 1.0)) for d, v in _per_domain(fixed, "fixed", domains)]
    tk = [(d, _number(v, f"tokens.{d}", positive=True)) for d, v in _per_domain(tokens, "tokens", domains)]
    if isinstance(max_epochs, Mapping):
        ep = {
            d: _number(v, f"max_epochs.{d}", positive=True) for d, v in _per_domain(max_epochs, "max_epochs", domains)
        }
        no_tokens = [d for d in ep if d not in dict(tk)]
        if no_tokens:
            raise ValidationError(f"max_epochs.{no_tokens[0]}", "this domain has no entry in tokens")
    else:
        e = 1.0 if max_epochs is None else _number(max_epochs, "max_epochs", positive=True)
        ep = {d: e for d, _ in tk}
    if target_tokens is not None:
        target_tokens = _number(target_tokens, "target_tokens", positive=True)
    elif tk:
        if default_target_tokens is None:
            raise ValidationError(
                "target_tokens", "needed with tokens: the target scale has no tokens_per_step to plan them from"
            )
        target_tokens = float(default_target_tokens)
    if linear is None:
        linear = []
    if isinstance(linear, str | Mapping) or not isinstance(linear, Sequence):
        linear = [linear]
    lin = tuple(_linear(item, f"linear[{i}]", domains) for i, item in enumerate(linear))
    return Constraints(
        tuple(b),
        tuple(fx),
        tuple(tk),
        tuple((d, ep.get(d, 1.0)) for d, _ in tk),
        lin,
        target_tokens if tk else None,
    )


# ---------------------------------------------------------------------------------------- feasible polytope
@dataclass(frozen=True)
class _Atom:
    """One constraint for the LP: ``kind`` is ``lo``/``hi`` on domain ``i`` or a ``row`` (a w <= rhs)."""

    label: str
    text: str
    kind: str
    i: int
    value: float
    row: tuple[float, ...] = ()


def _atoms(domains: Sequence[str], c: Constraints) -> list[_Atom]:
    idx = {d: i for i, d in enumerate(domains)}
    atoms = []
    for d, lo, hi in c.bounds:
        text = f"bounds.{d} in [{lo:g}, {hi:g}]"
        atoms += [_Atom(f"bounds.{d}", text, "lo", idx[d], lo), _Atom(f"bounds.{d}", text, "hi", idx[d], hi)]
    for d, v in c.fixed:
        text = f"fixed.{d} = {v:g}"
        atoms += [_Atom(f"fixed.{d}", text, "lo", idx[d], v), _Atom(f"fixed.{d}", text, "hi", idx[d], v)]
    epochs = dict(c.max_epochs)
    for d, cap in c.caps().items():
        text = (
            f"tokens.{d} <= {cap:.4g} ({epochs[d]:g} epochs x {dict(c.tokens)[d]:.4g} tokens"
            f" / {c.target_tokens:.4g} target tokens)"
        )
        atoms.append(_Atom(f"tokens.{d}", text, "hi", idx[d], min(cap, 1.0)))
    k = len(domains)
    for j, lin in enumerate(c.linear):
        a = np.zeros(k)
        for d, x in lin.weights:
            a[idx[d]] = x
        text = f"linear[{j}]: {lin.describe()}"
        if lin.max is not None:
            atoms.append(_Atom(f"linear[{j}]", text, "row", -1, lin.max, tuple(a)))
        if lin.min is not None:
            atoms.append(_Atom(f"linear[{j}]", text, "row", -1, -lin.min, tuple(-a)))
    return atoms


def _system(k: int, atoms: Sequence[_Atom]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = np.zeros(k), np.ones(k)
    rows, rhs = [], []
    for a in atoms:
        if a.kind == "lo":
            lo[a.i] = max(lo[a.i], a.value)
        elif a.kind == "hi":
            hi[a.i] = min(hi[a.i], a.value)
        else:
            rows.append(a.row)
            rhs.append(a.value)
    return lo, hi, np.array(rows, dtype=float).reshape(-1, k), np.array(rhs, dtype=float)


def _lp(c: np.ndarray, lo, hi, A, b, equality: bool = True):
    from scipy.optimize import linprog

    k = len(lo)
    return linprog(
        c,
        A_ub=A if len(b) else None,
        b_ub=b if len(b) else None,
        A_eq=np.ones((1, k)) if equality else None,
        b_eq=[1.0] if equality else None,
        bounds=list(zip(lo, hi, strict=True)),
        method="highs",
    )


def _feasible(k: int, atoms: Sequence[_Atom]) -> bool:
    lo, hi, A, b = _system(k, atoms)
    if np.any(lo > hi + 1e-12) or lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
        return False
    return _lp(np.zeros(k), lo, np.maximum(lo, hi), A, b).status == 0


def _conflict(k: int, atoms: list[_Atom]) -> list[_Atom]:
    """An irreducible infeasible subset of the labelled constraints (deletion filter)."""
    labels = list(dict.fromkeys(a.label for a in atoms))
    keep = list(labels)
    for label in labels:
        trial = [x for x in keep if x != label]
        if not _feasible(k, [a for a in atoms if a.label in trial]):
            keep = trial
    return [a for a in atoms if a.label in keep]


def polytope(domains: Sequence[str], c: Constraints) -> tuple[Polytope, dict[str, tuple[float, float]]]:
    """The feasible polytope and each domain's feasible ``(min, max)`` weight; raises on an empty set."""
    k = len(domains)
    atoms = _atoms(domains, c)
    if not _feasible(k, atoms):
        conflict = _conflict(k, atoms)
        texts = list(dict.fromkeys(a.text for a in conflict))
        raise ValidationError(
            "constraints",
            "no mixture satisfies these together with the weights summing to 1: " + "; ".join(texts),
        )
    lo, hi, A, b = _system(k, atoms)
    hi = np.maximum(lo, hi)
    ranges = np.zeros((k, 2))
    for i in range(k):
        e = np.zeros(k)
        e[i] = 1.0
        ranges[i, 0] = _lp(e, lo, hi, A, b).x[i]
        ranges[i, 1] = _lp(-e, lo, hi, A, b).x[i]
    # The implied box (tighter than the given one where rows bind); near-equal ends pin the domain.
    lower = np.clip(np.maximum(lo, ranges[:, 0]), 0.0, 1.0)
    upper = np.clip(np.minimum(hi, ranges[:, 1]), lower, 1.0)
    pinned = upper - lower < 1e-9
    upper[pinned] = lower[pinned]
    center = _center(lower, upper, A, b)
    summary = {d: (float(ranges[i, 0]), float(ranges[i, 1])) for i, d in enumerate(domains)}
    return Polytope(lower, upper, A, b, center), summary


def _center(lower: np.ndarray, upper: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""A strictly interior point: maximize the margin :math:`s` with :math:`\ell_i + s \le w_i \le u_i - s` on
    free domains and :math:`a_j^\top w + s \lVert a_j \rVert \le b_j`, :math:`\sum w = 1`."""
    from scipy.optimize import linprog

    k = len(lower)
    free = upper > lower
    rows, rhs = [], []
    for i in np.flatnonzero(free):
        r = np.zeros(k + 1)
        r[i], r[k] = -1.0, 1.0
        rows.append(r), rhs.append(-lower[i])
        r = np.zeros(k + 1)
        r[i], r[k] = 1.0, 1.0
        rows.append(r), rhs.append(upper[i])
    for a, bj in zip(A, b, strict=True):
        rows.append(np.append(a, np.linalg.norm(a))), rhs.append(bj)
    cost = np.zeros(k + 1)
    cost[k] = -1.0
    res = linprog(
        cost,
        A_ub=np.array(rows) if rows else None,
        b_ub=np.array(rhs) if rhs else None,
        A_eq=np.append(np.ones(k), 0.0)[None],
        b_eq=[1.0],
        bounds=[*zip(lower, upper, strict=True), (0.0, 1.0)],
        method="highs",
    )
    w = np.clip(res.x[:k], lower, upper)
    return Polytope(lower, upper, A, b, w)._clean(w[None])[0]
