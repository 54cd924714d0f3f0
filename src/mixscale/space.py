r"""The search space: named domains (mixtures on the simplex), a scale ladder, a step grid and the target.

Cost model
----------
Training a dense transformer with :math:`N` non-embedding parameters on :math:`D` tokens costs
:math:`C \approx 6 N D` FLOPs (forward + backward). A query :math:`(w, m, z)` trains scale :math:`m` for
:math:`z` steps of :math:`T_m` tokens each, so :math:`C(m, z) = 6 N_m T_m z`. Every cost in mixscale is expressed
in **target-run units**: :math:`C(m, z) / C(m^*, z^*)`, so a full target run costs exactly 1.0.

A space whose scales are bare names (no parameter counts) has no intrinsic cost; the objective then supplies one
(see :class:`mixscale.objective.FunctionObjective`), as outside simulators do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixscale import constraints as _constraints
from mixscale import simplex
from mixscale.errors import ValidationError

#: Tolerance on ``sum(w) == 1`` when validating a mixture.
SUM_TOLERANCE = 1e-6


def training_flops(params: float, tokens: float) -> float:
    r"""Training compute of a dense transformer, :math:`C \approx 6 N D` (forward 2ND + backward 4ND) for
    :math:`N` non-embedding parameters and :math:`D` tokens; the one place mixscale counts FLOPs."""
    return 6.0 * params * tokens


@dataclass(frozen=True)
class Scale:
    """One rung of the model-scale ladder.

    ``params`` is the non-embedding parameter count :math:`N`, ``tokens_per_step`` the batch size in tokens.
    Both may be ``None`` when the objective supplies its own cost.
    """

    name: str
    params: float | None = None
    tokens_per_step: float | None = None

    def flops_per_step(self) -> float:
        if self.params is None or self.tokens_per_step is None:
            raise ValidationError(f"scales.{self.name}", "no params/tokens_per_step, so no FLOPs cost is defined")
        return training_flops(self.params, self.tokens_per_step)


@dataclass(frozen=True)
class Config:
    """One query: train ``scale`` for ``steps`` steps on ``mixture`` (domain name -> weight)."""

    mixture: Mapping[str, float]
    scale: str
    steps: int

    def weights(self, domains: Sequence[str]) -> np.ndarray:
        return np.array([self.mixture[d] for d in domains], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"mixture": dict(self.mixture), "scale": self.scale, "steps": int(self.steps)}


def _as_scale(item: Any, i: int) -> Scale:
    if isinstance(item, Scale):
        return item
    if isinstance(item, str):
        return Scale(item)
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "params", "tokens_per_step"}
        if unknown:
            raise ValidationError(f"scales[{i}]", f"unknown keys {sorted(unknown)}")
        if "name" not in item:
            raise ValidationError(f"scales[{i}].name", "missing")
        return Scale(str(item["name"]), item.get("params"), item.get("tokens_per_step"))
    if isinstance(item, Sequence) and len(item) in (1, 2, 3):
        return Scale(*item)
    raise ValidationError(
        f"scales[{i}]", f"expected a name, a mapping or (name, params, tokens_per_step), got {item!r}"
    )


@dataclass(frozen=True, init=False)
class Space:
    """Domains, scale ladder (small to large), step grid (ascending), target ``(scale, steps)`` and constraints.

    Constraints (keyword-only; see :mod:`mixscale.constraints`): ``bounds``, ``fixed``, ``tokens`` with
    ``max_epochs`` and ``target_tokens``, and ``linear``. They are validated here, the feasible set is checked to
    be non-empty, and every sampling, projection and validation method of the space stays inside it. A space
    without constraints behaves exactly as the plain simplex (same draws for the same generator).

    >>> space = Space(["web", "code"], [("s", 1e6, 1e4), ("l", 1e7, 1e4)], [100, 1000])
    >>> space.target, space.cost("s", 100)
    (('l', 1000), 0.01)
    """

    domains: tuple[str, ...]
    scales: tuple[Scale, ...]
    steps: tuple[int, ...]
    target: tuple[str, int]
    constraints: _constraints.Constraints
    _index: dict[str, int] = field(repr=False, compare=False)
    _polytope: simplex.Polytope | None = field(repr=False, compare=False)
    _region: dict[str, tuple[float, float]] | None = field(repr=False, compare=False)

    def __init__(
        self,
        domains: Iterable[str],
        scales: Iterable[Any],
        steps: Iterable[int],
        target: tuple[str, int] | None = None,
        *,
        bounds: Mapping[str, Sequence[float]] | None = None,
        fixed: Mapping[str, float] | None = None,
        tokens: Mapping[str, float] | None = None,
        max_epochs: float | Mapping[str, float] | None = None,
        linear: Any = None,
        target_tokens: float | None = None,
    ) -> None:
        domains = tuple(domains)
        if len(domains) < 2:
            raise ValidationError("domains", "need at least two domains")
        for i, d in enumerate(domains):
            if not isinstance(d, str) or not d:
                raise ValidationError(f"domains[{i}]", f"must be a non-empty string, got {d!r}")
        if len(set(domains)) != len(domains):
            raise ValidationError("domains", "names must be unique")
        scales = tuple(_as_scale(s, i) for i, s in enumerate(scales))
        if not scales:
            raise ValidationError("scales", "need at least one scale")
        names = [s.name for s in scales]
        if len(set(names)) != len(names):
            raise ValidationError("scales", "names must be unique")
        for s in scales:
            for attr in ("params", "tokens_per_step"):
                v = getattr(s, attr)
                if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                    raise ValidationError(f"scales.{s.name}.{attr}", f"must be a positive number, got {v!r}")
        try:
            steps = tuple(int(z) for z in steps)
        except (TypeError, ValueError) as exc:
            raise ValidationError("steps", f"must be integers ({exc})") from None
        if not steps or any(z <= 0 for z in steps):
            raise ValidationError("steps", "need at least one positive step count")
        if list(steps) != sorted(set(steps)):
            raise ValidationError("steps", "must be strictly increasing")
        if target is None:
            target = (scales[-1].name, steps[-1])
        if not (isinstance(target, Sequence) and len(target) == 2):
            raise ValidationError("target", "must be (scale, steps)")
        if target[0] not in names:
            raise ValidationError("target.scale", f"{target[0]!r} is not one of the scales {names}")
        try:
            tsteps = int(target[1])
        except (TypeError, ValueError):
            raise ValidationError("target.steps", f"must be an integer, got {target[1]!r}") from None
        if tsteps not in steps:
            raise ValidationError("target.steps", f"{tsteps} is not on the step grid {list(steps)}")
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "target", (str(target[0]), tsteps))
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})
        tscale = scales[self._index[str(target[0])]]
        planned = None if tscale.tokens_per_step is None else float(tscale.tokens_per_step) * tsteps
        cons = _constraints.parse(
            domains,
            bounds=bounds,
            fixed=fixed,
            tokens=tokens,
            max_epochs=max_epochs,
            linear=linear,
            target_tokens=target_tokens,
            default_target_tokens=planned,
        )
        poly, region = _constraints.polytope(domains, cons) if cons else (None, None)
        if poly is not None and not len(poly.b) and np.all(poly.lower == 0.0) and np.all(poly.upper == 1.0):
            poly = None  # constraints that cut nothing: the plain simplex, drawn exactly as without them
        object.__setattr__(self, "constraints", cons)
        object.__setattr__(self, "_polytope", poly)
        object.__setattr__(self, "_region", region)

    # ----------------------------------------------------------------- basics
    @property
    def k(self) -> int:
        """Number of domains."""
        return len(self.domains)

    @property
    def scale_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scales)

    def scale(self, name: str) -> Scale:
        try:
            return self.scales[self._index[name]]
        except KeyError:
            raise ValidationError("scale", f"{name!r} is not one of {list(self.scale_names)}") from None

    def scale_index(self, name: str) -> int:
        self.scale(name)
        return self._index[name]

    @property
    def has_flops(self) -> bool:
        """True when every scale has params and tokens_per_step, so that FLOPs costs are defined."""
        return all(s.params is not None and s.tokens_per_step is not None for s in self.scales)

    def fidelities(self) -> list[tuple[str, int]]:
        """Every ``(scale, steps)`` pair on the grid."""
        return [(s.name, z) for s in self.scales for z in self.steps]

    # ------------------------------------------------------------------- cost
    def flops(self, scale: str, steps: int) -> float:
        """Training FLOPs :math:`6 N_m T_m z` of one query."""
        return self.scale(scale).flops_per_step() * float(steps)

    def cost(self, scale: str, steps: int) -> float:
        """Cost of ``(scale, steps)`` in target-run units (the target run costs 1.0)."""
        return self.flops(scale, steps) / self.flops(*self.target)

    # --------------------------------------------------------------- mixtures
    def validate_mixture(
        self,
        mixture: Mapping[str, float] | Sequence[float] | np.ndarray,
        name: str = "mixture",
        feasible: bool = True,
    ):
        """Return ``mixture`` as a length-``k`` array after checking it is a point of this space's simplex and,
        unless ``feasible=False`` (e.g. for past runs told as data), satisfies its constraints.

        Accepts a mapping with exactly this space's domains, or a sequence in domain order. Raises
        :class:`ValidationError` naming the bad field (and the violated constraint) otherwise.
        """
        if isinstance(mixture, Mapping):
            missing = [d for d in self.domains if d not in mixture]
            extra = [d for d in mixture if d not in self.domains]
            if missing:
                raise ValidationError(f"{name}.{missing[0]}", f"missing weight (domains are {list(self.domains)})")
            if extra:
                raise ValidationError(f"{name}.{extra[0]}", f"unknown domain (domains are {list(self.domains)})")
            items = [(f"{name}.{d}", mixture[d]) for d in self.domains]
        else:
            seq = list(np.asarray(mixture, dtype=object).ravel()) if not isinstance(mixture, str) else None
            if seq is None or len(seq) != self.k:
                raise ValidationError(name, f"expected {self.k} weights for domains {list(self.domains)}")
            items = [(f"{name}.{d}", v) for d, v in zip(self.domains, seq, strict=True)]
        w = np.empty(self.k)
        for i, (fname, v) in enumerate(items):
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValidationError(fname, f"weight must be a number, got {v!r}") from None
            if not math.isfinite(x):
                raise ValidationError(fname, f"weight must be finite, got {x}")
            if x < 0:
                raise ValidationError(fname, f"weight must be >= 0, got {x}")
            w[i] = x
        total = float(w.sum())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValidationError(name, f"weights must sum to 1 (within {SUM_TOLERANCE:g}), got {total:.9g}")
        w = w / total
        if feasible and self._polytope is not None:
            self._check_feasible(w, name)
        return w

    def _check_feasible(self, w: np.ndarray, name: str, tol: float = 1e-9) -> None:
        for atom in _constraints._atoms(self.domains, self.constraints):
            if atom.kind == "row":
                lhs, bad = float(np.dot(atom.row, w)), float(np.dot(atom.row, w)) > atom.value + tol
                field_name, got = name, f"{abs(lhs):.6g}"
            else:
                x = float(w[atom.i])
                bad = x < atom.value - tol if atom.kind == "lo" else x > atom.value + tol
                field_name, got = f"{name}.{self.domains[atom.i]}", f"{x:.6g}"
            if bad:
                raise ValidationError(field_name, f"violates {atom.text} (got {got})")

    # ------------------------------------------------------------ constraints
    @property
    def constrained(self) -> bool:
        """True when the feasible set is smaller than the simplex."""
        return self._polytope is not None

    @property
    def polytope(self) -> simplex.Polytope | None:
        """The feasible polytope (``None`` when the space is the whole simplex)."""
        return self._polytope

    def feasible_region(self) -> dict[str, tuple[float, float]]:
        """Each domain's smallest and largest feasible weight (by linear programming)."""
        if self._region is None:
            return {d: (0.0, 1.0) for d in self.domains}
        return dict(self._region)

    def uncovered_domains(self, W: np.ndarray) -> list[str]:
        """Domains this space lets vary that every mixture (row) of ``W`` leaves at exactly 0.

        Runs that all share such a zero lie on one face of the simplex: however many they are, they say nothing
        about which way that domain moves the metric (the warm-start case: runs of an earlier study that lacked
        the domain). Empty when ``W`` has no rows."""
        W = np.atleast_2d(np.asarray(W, dtype=float))
        if W.size == 0:
            return []
        region = self.feasible_region()
        return [d for j, d in enumerate(self.domains) if region[d][1] > 1e-9 and not np.any(W[:, j] > 0)]

    def is_feasible(self, W: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Per row of ``W``: on the simplex and inside every constraint (within ``tol``)."""
        W = np.atleast_2d(np.asarray(W, dtype=float))
        if self._polytope is not None:
            return self._polytope.contains(W, tol)
        return (np.abs(W.sum(axis=1) - 1.0) <= tol) & np.all(W >= -tol, axis=1)

    def with_constraints(self, **constraints: Any) -> Space:
        """This space with the given constraints (replacing any it had)."""
        return Space(self.domains, self.scales, self.steps, self.target, **constraints)

    def epochs(self, mixture: Mapping[str, float] | np.ndarray, tokens_seen: float) -> dict[str, float]:
        r"""Epochs per domain with a known token count for a run of ``tokens_seen`` tokens: :math:`w_d D / T_d`."""
        w = self.validate_mixture(mixture, feasible=False) if isinstance(mixture, Mapping) else np.asarray(mixture)
        idx = {d: i for i, d in enumerate(self.domains)}
        return {d: float(w[idx[d]]) * tokens_seen / t for d, t in self.constraints.tokens}

    def mixture_dict(self, w: np.ndarray | Sequence[float]) -> dict[str, float]:
        return {d: float(x) for d, x in zip(self.domains, np.asarray(w, dtype=float), strict=True)}

    def config(self, mixture: Mapping[str, float] | Sequence[float] | np.ndarray, scale: str, steps: int) -> Config:
        """A validated :class:`Config`."""
        w = self.validate_mixture(mixture)
        self.scale(scale)
        steps = int(steps)
        if steps <= 0:
            raise ValidationError("steps", f"must be positive, got {steps}")
        return Config(self.mixture_dict(w), scale, steps)

    def sample_mixtures(self, rng: np.random.Generator, n: int, alpha: float = 1.0) -> np.ndarray:
        """``n`` mixtures from Dirichlet(alpha); ``alpha = 1`` is uniform on the simplex.

        On a constrained space: uniform on the feasible polytope (``alpha`` < 1 mixes in a quarter of draws
        projected from Dirichlet(alpha), to keep reaching the faces)."""
        if self._polytope is None:
            return simplex.sample_dirichlet(rng, n, self.k, alpha)
        W = self._polytope.sample(rng, n)
        if alpha < 1.0 and n >= 4:
            m = n // 4
            W[:m] = self._polytope.project(simplex.sample_dirichlet(rng, m, self.k, alpha))
        return W

    def sample_design(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` space-filling mixtures for an initial design (scrambled Sobol; see :func:`simplex.sample_sobol`)."""
        if self._polytope is None:
            return simplex.sample_sobol(rng, n, self.k)
        return self._polytope.design(rng, n)

    def project(self, V: np.ndarray) -> np.ndarray:
        """Euclidean projection of each row of ``V`` onto the feasible set (the simplex when unconstrained)."""
        if self._polytope is None:
            return simplex.project(V)
        return self._polytope.project(V)

    def perturb(self, rng: np.random.Generator, w: np.ndarray, n: int, scale: float) -> np.ndarray:
        """``n`` random feasible neighbours of ``w`` (Gaussian steps of size ``scale``, projected back)."""
        if self._polytope is None:
            return simplex.perturb(rng, w, n, scale)
        return self._polytope.perturb(rng, w, n, scale)

    def uniform_mixture(self) -> np.ndarray:
        """The uniform mixture, or its projection onto the feasible set."""
        w = np.full(self.k, 1.0 / self.k)
        return w if self._polytope is None else self._polytope.project(w[None])[0]

    def extreme_mixtures(self) -> np.ndarray:
        """The simplex's vertices, or on a constrained space the feasible points nearest to them (corners where
        good mixtures often sit)."""
        if self._polytope is None:
            return np.eye(self.k)
        return self._polytope.project(np.eye(self.k))

    # ------------------------------------------------------------ coordinates
    def fidelity_coordinates(self, scale: str, steps: int) -> tuple[float, float]:
        """``(m, z)`` mapped to ``[0, 1]^2`` on log axes (the target is ``(1, 1)`` when it is the largest)."""
        i = self.scale_index(scale)
        if self.has_flops:
            logs = np.log([s.params * s.tokens_per_step for s in self.scales])
            lo, hi = logs.min(), logs.max()
            u = 0.0 if hi == lo else (logs[i] - lo) / (hi - lo)
        else:
            u = 0.0 if len(self.scales) == 1 else i / (len(self.scales) - 1)
        lz = math.log(steps)
        zlo, zhi = math.log(self.steps[0]), math.log(self.steps[-1])
        v = 0.0 if zhi == zlo else (lz - zlo) / (zhi - zlo)
        return float(u), float(v)


CostFunction = Callable[[str, int], float]
