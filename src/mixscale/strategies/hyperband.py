r"""Hyperband (Li et al., 2018) over training steps at the target scale.

Rungs are the space's step grid at :math:`m^*`, so a bracket never asks for a step count the objective does not
offer. With :math:`R` rungs and reduction factor :math:`\eta`, bracket :math:`s \in \{R-1, \dots, 0\}` starts
:math:`n_s = \lceil R/(s+1) \cdot \eta^{s} \rceil` Dirichlet(1) mixtures at rung :math:`R-1-s` and keeps the best
:math:`\lfloor n/\eta \rfloor` (at least one) at each promotion (successive halving). A promoted mixture is
retrained from scratch at the longer step count and charged in full: a cosine schedule cannot be resumed at a
longer horizon. Brackets cycle until the budget is spent; when every open rung is waiting for results (parallel
workers), the next bracket opens.

SMAC3's Hyperband would pull in a large dependency for a loop of ~60 lines, so the loop is written here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mixscale.objective import Observation
from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy


@dataclass
class _Bracket:
    rung: int  # index into the step grid
    mixtures: list[np.ndarray]
    queue: deque = field(default_factory=deque)
    results: dict[int, float] = field(default_factory=dict)
    asked: int = 0

    def __post_init__(self) -> None:
        self.queue.extend(range(len(self.mixtures)))


class Hyperband(Strategy):
    """Hyperband with reduction factor ``eta`` over the step grid at the target scale."""

    name = "hyperband"
    handles_pending = True  # open rungs are handed out; a new bracket opens when all wait

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
        *,
        eta: int = 3,
    ) -> None:
        super().__init__(space, cost, minimize, seed)

        if eta < 2:
            raise ValueError("eta must be >= 2")
        self.eta = int(eta)
        self.rungs = [z for z in self.space.steps if z <= self.space.target[1]]
        self._brackets: list[_Bracket] = []
        self._next_s = len(self.rungs) - 1
        self._pending: dict[tuple, list[tuple[_Bracket, int]]] = {}

    def _open_bracket(self) -> _Bracket:
        R = len(self.rungs)
        s = self._next_s
        self._next_s = s - 1 if s > 0 else R - 1
        n = math.ceil(R / (s + 1) * self.eta**s)
        bracket = _Bracket(R - 1 - s, list(self.space.sample_mixtures(self.rng, n)))
        self._brackets.append(bracket)
        return bracket

    def ask(self) -> Config:
        bracket = next((b for b in self._brackets if b.queue), None) or self._open_bracket()
        i = bracket.queue.popleft()
        bracket.asked += 1
        config = self._config(bracket.mixtures[i], self.space.target[0], self.rungs[bracket.rung])
        self._pending.setdefault(self._key(config), []).append((bracket, i))
        return config

    def _key(self, config: Config) -> tuple:
        return (tuple(round(config.mixture[d], 12) for d in self.space.domains), config.scale, config.steps)

    def _on_tell(self, config: Config, observation: Observation) -> None:
        waiting = self._pending.get(self._key(config))
        if not waiting:
            return  # told about a query this strategy did not ask (e.g. warm-start data): history only
        bracket, i = waiting.pop(0)
        bracket.results[i] = self.history.values[-1]
        if len(bracket.results) == len(bracket.mixtures) and not bracket.queue:
            self._promote(bracket)

    def _promote(self, bracket: _Bracket) -> None:
        self._brackets.remove(bracket)
        if bracket.rung == len(self.rungs) - 1:
            return
        keep = max(1, len(bracket.mixtures) // self.eta)
        order = sorted(bracket.results, key=bracket.results.get)[:keep]
        self._brackets.append(_Bracket(bracket.rung + 1, [bracket.mixtures[i] for i in order]))

    def recommend(self) -> Recommendation:
        h = self.history
        if not len(h):
            return self._best_observed()
        at_target = [i for i in range(len(h)) if h.scales[i] == self.space.target[0]]
        if not at_target:  # e.g. only warm-start or initial runs at smaller scales so far
            return self._best_observed()
        top = max(h.steps[i] for i in at_target)
        idx = self._feasible(i for i in at_target if h.steps[i] == top)
        if not idx:
            return self._best_observed()
        i = min(idx, key=lambda j: h.values[j])
        return Recommendation(
            self.space.mixture_dict(h.mixtures[i]), self._external(h.values[i]), None, f"best at {top} steps"
        )
