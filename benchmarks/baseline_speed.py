"""The two baselines that dominated the main job's time, old path and new path side by side in one run.

Usage: ``.venv/bin/python benchmarks/baseline_speed.py [--threads 1] [--repeats 3]``

The main job (``mixscale benchmark``: six strategies × 10 seeds on the fitted simulator, a recommendation at 48
cost checkpoints) spent about a third of its CPU time in ``regmix``'s GP regressor and a quarter in ``mfms-paper``'s
acquisition. Three operations, each timed both ways on the same fitted model and data (process CPU seconds, the
median of ``repeats``), with the largest difference between the two paths' outputs:

* ``regmix`` ranks 25,000 Dirichlet mixtures by its GP's posterior mean: BoTorch ``posterior()`` in chunks of 2,048
  (before) against :class:`~mixscale.surrogates.exact_posterior.ExactPosterior` (one Cholesky, ``k(X, Z) α``);
* ``regmix`` refits its GP on 300 proxy runs after 20 new ones: a cold L-BFGS fit (before) against one
  warm-started from the fit on the first 280 (stopping once an iteration gains < 0.002 nats);
* ``mfms-paper`` evaluates EI and its gradient over softmax logits 2,000 times (one ask's L-BFGS work at 15
  fidelities × 2 starts): BoTorch ``ExpectedImprovement`` (before) against ``_EIOverLogits`` on
  ``ExactPosterior``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch


def cpu_seconds(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        c0 = time.process_time()
        out = fn()
        times.append(time.process_time() - c0)
    return float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from botorch.acquisition import ExpectedImprovement

    from mixscale import simplex
    from mixscale.simulator import load
    from mixscale.strategies.mfms_paper import _EIOverLogits
    from mixscale.strategies.regmix import _Regressor
    from mixscale.surrogates.gp import fit_adam, paper_model

    sim = load("fitted", metric="loss:avg")
    scale, steps = min(sim.space.fidelities(), key=lambda f: sim.cost(*f))
    rng = np.random.default_rng(0)
    W = sim.space.sample_mixtures(rng, 300)
    y = sim.value_at(W, scale, steps) + sim.sigma(scale) * rng.standard_normal(300)
    rows = []

    # regmix: ranking 25,000 mixtures
    reg = _Regressor("gp", 0).fit(W, y)
    cand = sim.space.sample_mixtures(rng, 25000)
    Xc = torch.from_numpy(simplex.hellinger(cand))

    def botorch_mean():
        with torch.no_grad():
            return torch.cat([reg.gp.posterior(x).mean.squeeze(-1) for x in Xc.split(2048)]).numpy()

    t_old, m_old = cpu_seconds(botorch_mean, args.repeats)
    t_new, m_new = cpu_seconds(lambda: reg.predict(cand), args.repeats)
    rows.append(("regmix: rank 25,000 mixtures by the GP mean", t_old, t_new, float(np.abs(m_old - m_new).max())))

    # regmix: refit after 20 new runs
    before = _Regressor("gp", 0).fit(W[:280], y[:280])
    state = {k: v.detach().clone() for k, v in before.gp.state_dict().items()}
    t_old, cold = cpu_seconds(lambda: _Regressor("gp", 0).fit(W, y), args.repeats)
    t_new, warm = cpu_seconds(lambda: _Regressor("gp", 0, state).fit(W, y), args.repeats)
    diff = float(np.abs(cold.predict(cand[:2000]) - warm.predict(cand[:2000])).max())
    rows.append(("regmix: GP refit on 300 runs, cold vs warm", t_old, t_new, diff))

    # mfms-paper: EI + gradient over logits
    k = sim.space.k
    n = 40
    Wp = sim.space.sample_mixtures(rng, n)
    u, v = rng.uniform(size=n), rng.uniform(size=n)
    yp = sim.value_at(Wp, scale, steps) - 0.3 * u - 0.1 * v
    model = fit_adam(paper_model(torch.from_numpy(np.column_stack([Wp, u, v])), torch.from_numpy(yp)[:, None]))
    X = torch.from_numpy(np.column_stack([rng.uniform(-3, 3, (30, k)), rng.uniform(size=(30, 2))]))[:, None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ei = ExpectedImprovement(model, best_f=float(yp.min()), maximize=False)
    ours = _EIOverLogits(model, float(yp.min()), k)

    def evaluate(acq):
        def run():
            for _ in range(2000 // len(X)):
                Xg = X.clone().requires_grad_(True)
                val = acq(Xg)
                val.sum().backward()
            return val.detach().numpy()

        return run

    def botorch_acq(Xg):
        return ei(torch.cat([torch.softmax(Xg[..., :k], dim=-1), Xg[..., k:]], dim=-1))

    t_old, e_old = cpu_seconds(evaluate(botorch_acq), args.repeats)
    t_new, e_new = cpu_seconds(evaluate(ours), args.repeats)
    rows.append(("mfms-paper: 2,000 EI + gradient evaluations", t_old, t_new, float(np.abs(e_old - e_new).max())))

    print(f"threads {args.threads}, repeats {args.repeats}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'operation':48s} {'before s':>9s} {'after s':>9s} {'ratio':>7s} {'max |diff|':>11s}")
    for name, a, b, d in rows:
        print(f"{name:48s} {a:9.3f} {b:9.3f} {a / b:6.1f}x {d:11.2e}")


if __name__ == "__main__":
    main()
