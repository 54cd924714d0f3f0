import numpy as np
import pytest
import torch

from mixscale.objectives.function import FunctionObjective
from mixscale.space import Space

torch.set_num_threads(1)


def _toy_fn(mixture, scale, steps):
    """A smooth toy objective: quadratic bowl on the simplex whose centre moves with scale, scaling-law trend."""
    w = np.array(list(mixture.values()))
    size = {"s": 1.0, "m": 2.0, "l": 4.0}[scale]
    centre = np.array([0.5, 0.3, 0.2]) if scale == "l" else np.array([0.4, 0.35, 0.25])
    return float(2.0 + 1.0 / size + 1000.0 / steps / size + ((w - centre) ** 2).sum())


@pytest.fixture
def toy_objective():
    space = Space(
        ["a", "b", "c"],
        [("s", 1e6, 1e4), ("m", 4e6, 1e4), ("l", 1.6e7, 1e4)],
        [100, 300, 1000],
    )
    return FunctionObjective(space, _toy_fn)
