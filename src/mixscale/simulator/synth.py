r"""A wide synthetic runs table from a known data-mixing × scaling law (our own generator, no one's data).

Test bed for simulator fits on tables shaped like users' imports: many domains, many tiny proxy runs, few large
ones, one final evaluation per run, a different schedule per scale. The law (all constants drawn from `seed`):

* domain :math:`i` has :math:`U_i` unique tokens; training on :math:`D` tokens at weight :math:`w_i` sees
  :math:`D_i = w_i D` tokens of it, worth :math:`D'_i = \rho U_i (1 - e^{-D_i / \rho U_i})` fresh tokens
  (repetition saturates after ~ρ = 4 epochs), so small domains are good at small scale and wasted at large;
* validation domain :math:`j` learns from a transfer mix :math:`R_j = \sum_i T_{ji} D'_i + \epsilon D` with
  :math:`T_{jj} = 1` and a few positive off-diagonal :math:`T_{ji}` (domain interactions);
* :math:`L_j = E_j + A_j (N/N_0)^{-\alpha} + B_j (R_j/D_0)^{-\beta_j} (1 + \kappa H(w) (N_0/N)^{\gamma})` with
  :math:`H(w)` the mixture's entropy (a small model pays for diversity) and per-domain exponents :math:`\beta_j`,
  so the best mixture moves with scale;
* ``loss:avg`` is the mean of the per-domain losses; every run adds seed noise :math:`\sigma(N)` shared by its
  metrics plus a quarter of it per metric; values are in nats per token (``unit`` column).

Mixtures are drawn RegMix-style: Dirichlet around a token-share prior with a concentration drawn per run, so many
are sparse. `truth` gives the noise-free law for any (w, N, D), which tests and benchmarks score against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixscale.errors import ValidationError

N0, D0 = 1e7, 1e9
RHO = 4.0
#: name, non-embedding params, training tokens, runs — a 1 : 60 : 1250 compute ladder like RegMix's.
DEFAULT_SCALES = (("xs", 2e7, 1e9, 800), ("m", 1.5e8, 8e9, 250), ("l", 1e9, 2.5e10, 64))


@dataclass(frozen=True)
class SynthLaw:
    """The constants of one synthetic law (see the module docstring)."""

    domains: tuple[str, ...]
    unique: np.ndarray  # U_i, tokens
    transfer: np.ndarray  # T, (k, k)
    E: np.ndarray
    A: np.ndarray
    B: np.ndarray
    beta: np.ndarray
    alpha: float = 0.3
    kappa: float = 0.03
    gamma: float = 0.5
    eps: float = 0.05
    prior: np.ndarray | None = None

    @classmethod
    def draw(cls, k: int, seed: int = 0, target_tokens: float = 2.5e10) -> SynthLaw:
        if k < 2:
            raise ValidationError("domains", "need at least two domains")
        rng = np.random.default_rng(seed)
        prior = rng.dirichlet(np.full(k, 1.0))
        # unique tokens: a few domains are scarce at the target scale (under ρ epochs at its own share)
        unique = target_tokens * prior * np.exp(rng.uniform(np.log(0.2), np.log(30.0), k))
        T = np.eye(k)
        for j in range(k):
            others = rng.choice([i for i in range(k) if i != j], size=min(3, k - 1), replace=False)
            T[j, others] = rng.uniform(0.05, 0.5, len(others))
        return cls(
            domains=tuple(f"d{j:02d}" for j in range(k)),
            unique=unique,
            transfer=T,
            E=rng.uniform(1.2, 2.5, k),
            A=rng.uniform(0.4, 1.2, k),
            B=rng.uniform(0.3, 1.0, k),
            beta=rng.uniform(0.2, 0.4, k),
            prior=prior,
        )

    def truth(self, w: np.ndarray, params: float | np.ndarray, tokens: float | np.ndarray) -> np.ndarray:
        """Noise-free losses, shape (n, k + 1): one column per domain, then their mean (``loss:avg``)."""
        w = np.atleast_2d(np.asarray(w, float))
        n_ = np.broadcast_to(np.asarray(params, float), (len(w),))[:, None]
        d_ = np.broadcast_to(np.asarray(tokens, float), (len(w),))[:, None]
        seen = w * d_
        fresh = RHO * self.unique * (1.0 - np.exp(-seen / (RHO * self.unique)))
        relevant = fresh @ self.transfer.T + self.eps * d_
        entropy = -(w * np.log(np.clip(w, 1e-12, None))).sum(axis=1, keepdims=True)
        capacity = 1.0 + self.kappa * entropy * (N0 / n_) ** self.gamma
        losses = self.E + self.A * (n_ / N0) ** -self.alpha + self.B * (relevant / D0) ** -self.beta * capacity
        return np.column_stack([losses, losses.mean(axis=1)])

    def sample_mixtures(self, n: int, rng: np.random.Generator) -> np.ndarray:
        prior = self.prior if self.prior is not None else np.full(len(self.domains), 1 / len(self.domains))
        conc = np.exp(rng.uniform(np.log(0.1), np.log(5.0), n))[:, None] * len(self.domains)
        w = np.vstack([rng.dirichlet(np.maximum(c * prior, 1e-3)) for c in conc])
        w = np.where(w < 1e-4, 0.0, w)
        return w / w.sum(axis=1, keepdims=True)


def parse_scales(spec: str) -> tuple[tuple[str, float, float, int], ...]:
    """``name:params:tokens:runs,…`` (e.g. ``xs:2e7:1e9:800,m:1.5e8:8e9:250,l:1e9:2.5e10:64``)."""
    out = []
    for i, item in enumerate(s for s in spec.split(",") if s.strip()):
        parts = item.strip().split(":")
        if len(parts) != 4:
            raise ValidationError(f"scales[{i}]", f"expected name:params:tokens:runs, got {item!r}")
        try:
            name, params, tokens, runs = parts[0], float(parts[1]), float(parts[2]), int(parts[3])
        except ValueError:
            msg = f"params and tokens must be numbers, runs an integer: {item!r}"
            raise ValidationError(f"scales[{i}]", msg) from None
        if not name or params <= 0 or tokens <= 0 or runs <= 0:
            raise ValidationError(f"scales[{i}]", f"need a name and positive params, tokens, runs: {item!r}")
        out.append((name, params, tokens, runs))
    if not out:
        raise ValidationError("scales", "need at least one scale")
    if len({s[0] for s in out}) != len(out):
        raise ValidationError("scales", "names must be unique")
    return tuple(sorted(out, key=lambda s: s[1]))


def synth_table(
    domains: int = 17,
    scales: tuple[tuple[str, float, float, int], ...] = DEFAULT_SCALES,
    seed: int = 0,
    noise: float = 0.005,
    curve_points: int = 1,
) -> tuple[pd.DataFrame, SynthLaw]:
    """A runs table (one row per run and evaluation; ``curve_points=1``: final losses only) and its law.

    Each scale trains on its own token budget with its own schedule: 2^19 tokens per step below 1e8 parameters,
    2^20 above, ``max_steps = tokens / tokens_per_step``. Seed noise σ(N) = noise · (N / N0)^-0.15.
    """
    if noise < 0:
        raise ValidationError("noise", "must be >= 0")
    if curve_points < 1:
        raise ValidationError("curve_points", "must be >= 1")
    top = max(s[2] for s in scales)
    law = SynthLaw.draw(domains, seed, target_tokens=top)
    rng = np.random.default_rng(seed + 1)
    rows = []
    for name, params, tokens, runs in scales:
        tps = 2**19 if params < 1e8 else 2**20
        max_steps = max(1, round(tokens / tps))
        steps = np.unique(np.round(np.linspace(max_steps / curve_points, max_steps, curve_points)).astype(int))
        W = law.sample_mixtures(runs, rng)
        sigma = noise * (params / N0) ** -0.15
        for r, w in enumerate(W):
            offset = sigma * rng.standard_normal()
            for step in steps:
                # a partial run on a cosine schedule sits above a finished run of the same tokens
                frac = step / max_steps
                value = law.truth(w, params, step * tps)[0] * (1 + 0.03 * (1 - frac))
                value = value + offset + 0.25 * sigma * rng.standard_normal(len(value))
                row = {"run_id": f"{name}-{r:04d}", "scale": name, "params": int(params), "tokens_per_step": tps}
                row |= {"step": int(step), "max_steps": int(max_steps), "seed": 0, "unit": "nats_per_token"}
                row |= {f"w:{d}": float(x) for d, x in zip(law.domains, w, strict=True)}
                row |= {f"loss:{d}": float(x) for d, x in zip(law.domains, value[:-1], strict=True)}
                row["loss:avg"] = float(value[:-1].mean())
                rows.append(row)
    return pd.DataFrame(rows), law
