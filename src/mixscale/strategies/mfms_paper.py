r"""``mfms-paper``: the seed paper's MFMS-GP as published (arXiv 2503.21023).

* GP: product of RBF kernels over the mixture, the scale and the steps (linear axes), linear mean, fixed noise;
  hyperparameters fitted once by Adam (lr 0.1, 50 iterations) on the initial design and never refit (new data
  only condition the GP).
* Initial design: 20 Dirichlet(1) mixtures at random scales, at the shortest step count.
* Each iteration :math:`t`: for every ``(m, z)`` on the grid maximize EI over the mixture, parameterized by
  softmax logits in :math:`[-3, 3]` (L-BFGS-B from several starts, all grid points in one batch), then query the
  ``(w, m, z)`` maximizing :math:`\mathrm{EI} / \mathrm{cost}^{\alpha_t}` with :math:`\alpha_t = 0.99^t`. When the
  best EI drops below :math:`10^{-4}`, all lengthscales shrink by 5%.
* Recommendation: the mixture with the best observed value.
* On a constrained space (not in the paper) the EI maximizer is projected onto the feasible set before it is
  asked, and the recommendation is the best observed *feasible* mixture.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from botorch.generation.gen import gen_candidates_scipy

from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.surrogates.exact_posterior import ExactPosterior
from mixscale.surrogates.features import features
from mixscale.surrogates.gp import fit_adam, hyperparameters_only, paper_model


class _EIOverLogits(torch.nn.Module):
    r"""Expected improvement (minimization) of ``[softmax(logits), u, v]`` for ``X = [logits, u, v]`` (``q = 1``;
    the fidelity columns are pinned by bounds):
    :math:`\mathrm{EI} = \sigma\,(\varphi(z) + z\,\Phi(z))`, :math:`z = (f^* - \mu) / \sigma`.

    BoTorch's ``ExpectedImprovement`` with ``maximize=False``, on the latent posterior, computed from
    :class:`~mixscale.surrogates.exact_posterior.ExactPosterior`: its ``posterior()`` rebuilt the joint train + test
    kernel for each of the ~2,000 evaluations an ask makes, most of the main job's time for this strategy."""

    def __init__(self, model, best_f: float, k: int) -> None:
        super().__init__()
        self.posterior, self.best_f, self.k = ExactPosterior(model), float(best_f), k
        self._normal = torch.distributions.Normal(0.0, 1.0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(X[..., : self.k], dim=-1)
        Z = torch.cat([w, X[..., self.k :]], dim=-1).squeeze(-2)  # (b, 1, d) -> (b, d)
        mean, var = self.posterior.mean_variance_differentiable(Z)
        sigma = var.clamp_min(1e-12).sqrt()
        z = (self.best_f - mean) / sigma
        return sigma * (torch.exp(self._normal.log_prob(z)) + z * self._normal.cdf(z))


class MFMSPaper(Strategy):
    """Options: ``n_init`` (20), ``n_starts`` L-BFGS starts per grid point (2), ``decay`` of alpha (0.99)."""

    name = "mfms-paper"

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
        *,
        n_init: int = 20,
        n_starts: int = 2,
        decay: float = 0.99,
    ) -> None:
        super().__init__(space, cost, minimize, seed)

        self.n_init, self.n_starts, self.decay = int(n_init), int(n_starts), float(decay)
        self.iteration = 0
        self._hypers: dict | None = None
        self._fidelities = [f for f in self.space.fidelities() if self.cost(*f) <= 1.0 + 1e-9]

    def _features(self, W, scales, steps) -> torch.Tensor:
        return features(self.space, W, scales, steps, embedding="identity", log_fidelity=False)

    def _model(self):
        h = self.history
        X = self._features(np.array(h.mixtures), h.scales, h.steps)
        Y = torch.tensor(h.values, dtype=torch.double)[:, None]
        model = paper_model(X, Y)
        if self._hypers is None:
            fit_adam(model)  # once, on the initial design
            self._hypers = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            model.load_state_dict(hyperparameters_only(self._hypers, model), strict=False)
            model.eval()
        return model

    def ask(self) -> Config:
        if len(self.history) < self.n_init:
            w = self.space.sample_mixtures(self.rng, 1)[0]
            scale = self.space.scale_names[int(self.rng.integers(len(self.space.scales)))]
            return self._config(w, scale, self.space.steps[0])
        model = self._model()
        k, B = self.space.k, len(self._fidelities)
        uniform = np.full((B, k), 1.0 / k)
        fid = self._features(uniform, [s for s, _ in self._fidelities], [z for _, z in self._fidelities])[:, k:]
        acqf = _EIOverLogits(model, min(self.history.values), k)  # plain EI, as the paper (its 1e-4 bar is on EI)
        # Starts: the best n_starts of 16 random logit vectors at each grid point.
        raw = torch.from_numpy(self.rng.uniform(-3, 3, size=(16, B, k)))
        X_raw = torch.cat([raw, fid.expand(16, B, 2)], dim=-1)
        with torch.no_grad():
            vals = acqf(X_raw.reshape(16 * B, 1, k + 2)).reshape(16, B)
        order = vals.argsort(dim=0, descending=True)[: self.n_starts]
        starts = torch.stack([X_raw[order[j], torch.arange(B)] for j in range(self.n_starts)])
        starts = starts.reshape(-1, 1, k + 2)
        lower, upper = starts.clone(), starts.clone()
        lower[..., :k], upper[..., :k] = -3.0, 3.0
        X, acq = gen_candidates_scipy(
            starts,
            acqf,
            lower_bounds=lower,
            upper_bounds=upper,
            options={"maxiter": 50},
            use_parallel_mode=False,
        )
        acq = acq.detach().reshape(self.n_starts, B)
        X = X.detach().reshape(self.n_starts, B, k + 2)[..., :k]
        j = acq.argmax(dim=0)
        best_ei = acq.max(dim=0).values.clamp_min(0).numpy()
        if best_ei.max() < 1e-4:
            self._shrink_lengthscales(0.95)
        alpha = self.decay**self.iteration
        cost = np.array([self.cost(*f) for f in self._fidelities])
        b = int(np.argmax(best_ei / cost**alpha))
        self.iteration += 1
        w = torch.softmax(X[j[b], b], dim=-1).numpy()
        return self._config(w, *self._fidelities[b])

    def _shrink_lengthscales(self, factor: float) -> None:
        for key, value in self._hypers.items():
            if key.endswith("raw_lengthscale"):
                # softplus^{-1}(factor * softplus(raw))
                ls = torch.nn.functional.softplus(value) * factor
                self._hypers[key] = ls + torch.log(-torch.expm1(-ls))

    def recommend(self) -> Recommendation:
        return self._best_observed()
