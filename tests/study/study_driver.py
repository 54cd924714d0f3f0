"""A study driver run as its own process by the resume tests (so that it can be killed with SIGKILL)."""

import sys

import study_helpers

import mixscale

if __name__ == "__main__":
    url, name, strategy, workers, n_trials, delay = sys.argv[1:7]
    objective = study_helpers.objective(delay=float(delay))
    study = mixscale.create_study(objective, storage=url, name=name, strategy=strategy, seed=3, load_if_exists=True)
    study.optimize(objective, n_trials=int(n_trials), workers=int(workers), deterministic=True)
    print("finished")
