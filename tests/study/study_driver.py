"""A study driver run as its own process by the resume tests (so that it can be killed with SIGKILL).

argv: url name strategy workers n_trials delay [pid_dir] — with ``pid_dir``, every worker notes its pid there."""

import sys

import study_helpers

import mixscale

if __name__ == "__main__":
    url, name, strategy, workers, n_trials, delay = sys.argv[1:7]
    if len(sys.argv) > 7:
        objective = study_helpers.objective(study_helpers.recording, delay=float(delay), pid_dir=sys.argv[7])
    else:
        objective = study_helpers.objective(delay=float(delay))
    study = mixscale.create_study(objective, storage=url, name=name, strategy=strategy, seed=3, load_if_exists=True)
    study.optimize(objective, n_trials=int(n_trials), workers=int(workers), deterministic=True)
    print("finished")
