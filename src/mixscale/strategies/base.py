"""The contract every strategy keeps: ``ask() -> Config``, ``tell(config, observation)``, ``recommend()``.

Strategies minimize internally: a maximized metric is negated on the way in and out, so subclasses only ever
see losses. The base class keeps the history (mixtures as arrays, fidelities, values, learning curves, costs) so
a strategy can be rebuilt from stored trials by replaying ``tell``.

Pending queries (parallel workers): :meth:`Strategy.ask_pending` asks while other queries are still being
evaluated. Strategies whose ``ask`` already spreads repeated asks without results (random draws, Hyperband's
brackets, RegMix's proxy draws) set ``handles_pending``; model-based ones get a **constant liar** (Ginsbourger et
al., 2010): each pending query is told, for the duration of that one ``ask``, the mean value observed so far at its
fidelity (all fidelities when it has none), so the model's variance collapses there and the acquisition looks
elsewhere. The lies never reach ``_on_tell`` hooks and are removed right after the ``ask``. Lies start only once
the strategy has its ``n_init`` real observations (before that, its asks are random draws anyway).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mixscale.objective import Observation
from mixscale.space import Config, Space


@dataclass(frozen=True)
class Recommendation:
    """The mixture a strategy would deploy at the target now.

    ``value`` / ``std`` are the strategy's prediction of the target metric (in the metric's own direction) and its
    posterior standard deviation, when the strategy has a model; ``source`` says how it was chosen.
    """

    mixture: dict[str, float]
    value: float | None = None
    std: float | None = None
    source: str = ""


@dataclass
class History:
    """Everything told so far, in arrays (values in the *minimize* direction)."""

    mixtures: list[np.ndarray] = field(default_factory=list)
    scales: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    curves: list[tuple[tuple[int, float], ...] | None] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    #: Bumped on every change (tells and temporary constant-liar rows), so model caches can key on it.
    revision: int = 0

    def __len__(self) -> int:
        return len(self.values)

    def append(self, w: np.ndarray, scale: str, steps: int, value: float, curve, cost: float) -> None:
        self.mixtures.append(w)
        self.scales.append(scale)
        self.steps.append(int(steps))
        self.values.append(float(value))
        self.curves.append(curve)
        self.costs.append(float(cost))
        self.revision += 1

    def truncate(self, n: int) -> None:
        for column in (self.mixtures, self.scales, self.steps, self.values, self.curves, self.costs):
            del column[n:]
        self.revision += 1


class Strategy(ABC):
    """Base class. ``cost(scale, steps)`` is in target-run units; ``seed`` fixes every random choice.

    Strategies are plain explicit-keyword estimators (as scikit-learn's ``BaseEstimator``): every constructor
    parameter is stored under its own name, resolved (a ``None`` default replaced by the value it stands for), so
    :meth:`get_params` returns what rebuilds this exact strategy even if a default changes later. Subclasses list
    their options as keyword-only parameters after ``(space, cost, minimize, seed)``; no ``*args`` / ``**kwargs``.
    """

    name: ClassVar[str]
    #: True when repeated ``ask`` calls without results already give distinct, sensible queries.
    handles_pending: ClassVar[bool] = False
    #: Observations before the strategy uses a model (its asks are random draws until then).
    n_init: int = 0

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
    ) -> None:
        self.space = space
        self.cost = cost if cost is not None else space.cost
        self.minimize = minimize
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.history = History()

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's parameters, less the problem itself (``space``, ``cost``)."""
        params = inspect.signature(cls.__init__).parameters.values()
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly (no *args/**kwargs)")
        return [p.name for p in params if p.name not in ("self", "space", "cost")]

    def get_params(self) -> dict[str, Any]:
        """Every constructor parameter but the problem (``space``, ``cost``), as resolved: store it with a study and
        ``create(name, space, cost, **params)`` rebuilds the same strategy whatever the defaults are then."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def reseed(self, seed: int | Sequence[int]) -> None:
        """Restart the strategy's random stream (a study reseeds from ``(study seed, trial number)`` before each ask,
        so a resumed study asks what the uninterrupted one would have)."""
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------ contract
    @abstractmethod
    def ask(self) -> Config:
        """The next query."""

    def tell(self, config: Config, observation: Observation) -> None:
        """Record the observation of ``config``."""
        sign = 1.0 if self.minimize else -1.0
        curve = None
        if observation.curve:
            curve = tuple((int(s), sign * float(v)) for s, v in observation.curve)
        self.history.append(
            config.weights(self.space.domains),
            config.scale,
            int(config.steps),
            sign * float(observation.value),
            curve,
            float(observation.cost),
        )
        self._on_tell(config, observation)

    def ask_pending(self, pending: Sequence[Config]) -> Config:
        """The next query while ``pending`` queries are still being evaluated (see the module docstring)."""
        if not pending or self.handles_pending or len(self.history) < max(1, self.n_init):
            return self.ask()
        with self._constant_liar(pending):
            return self.ask()

    @contextmanager
    def _constant_liar(self, pending: Sequence[Config]) -> Iterator[None]:
        h = self.history
        n = len(h)
        overall = float(np.mean(h.values))
        by_fidelity: dict[tuple[str, int], list[float]] = {}
        for s, z, v in zip(h.scales, h.steps, h.values, strict=True):
            by_fidelity.setdefault((s, z), []).append(v)
        try:
            for config in pending:
                seen = by_fidelity.get((config.scale, int(config.steps)))
                lie = float(np.mean(seen)) if seen else overall
                cost = float(self.cost(config.scale, int(config.steps)))
                h.append(config.weights(self.space.domains), config.scale, config.steps, lie, None, cost)
            yield
        finally:
            h.truncate(n)

    def _on_tell(self, config: Config, observation: Observation) -> None:  # noqa: B027 - optional hook
        """Hook for subclasses that track more state (default: nothing)."""

    @abstractmethod
    def recommend(self) -> Recommendation:
        """The mixture to deploy at the target."""

    # -------------------------------------------------------------- helpers
    @property
    def spent(self) -> float:
        return float(sum(self.history.costs))

    def _config(self, w: np.ndarray, scale: str, steps: int) -> Config:
        """A query; on a constrained space ``w`` is projected onto the feasible set (a no-op for feasible ``w``)."""
        if self.space.constrained:
            return Config(self.space.mixture_dict(self.space.project(w)[0]), scale, int(steps))
        w = np.clip(np.asarray(w, dtype=float), 0.0, None)
        return Config(self.space.mixture_dict(w / w.sum()), scale, int(steps))

    def _feasible(self, idx) -> list[int]:
        """The history rows among ``idx`` whose mixtures satisfy the space's constraints (told data may not)."""
        idx = list(idx)
        if not self.space.constrained or not idx:
            return idx
        ok = self.space.is_feasible(np.array([self.history.mixtures[i] for i in idx]))
        return [i for i, good in zip(idx, ok, strict=True) if good]

    def _observed_mixtures(self) -> np.ndarray:
        """Observed mixtures that may be recommended (the feasible ones), as a ``(n, k)`` array."""
        if not self.space.constrained:
            return np.array(self.history.mixtures)
        return np.array(self.history.mixtures)[self._feasible(range(len(self.history)))].reshape(-1, self.space.k)

    def _external(self, value: float | None) -> float | None:
        """Internal (minimize) value back to the metric's direction."""
        if value is None:
            return None
        return float(value if self.minimize else -value)

    def _best_observed(self, at_target_only: bool = False) -> Recommendation:
        """The mixture with the best observed value (optionally only among target-fidelity observations)."""
        h = self.history
        idx = range(len(h))
        if at_target_only:
            idx = [i for i in idx if (h.scales[i], h.steps[i]) == self.space.target]
        idx = self._feasible(idx)
        if not idx:
            return Recommendation(self.space.mixture_dict(self.space.uniform_mixture()), source="uniform (no data)")
        i = min(idx, key=lambda j: h.values[j])
        return Recommendation(
            self.space.mixture_dict(h.mixtures[i]), self._external(h.values[i]), None, "best observed"
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.get_params()}
