"""Model families for the fitted simulator, one module each; every family maps features x → all metrics.

`FAMILIES` names them for `make_model`, `mixscale simulator fit --methods` and the stored choice.
"""

from mixscale.simulator.families.gbm import GBMModel
from mixscale.simulator.families.gp_fit import GPModel
from mixscale.simulator.families.mixing_law import MixingLawModel
from mixscale.simulator.families.mlp import MLPModel
from mixscale.simulator.families.poly import PolyModel

FAMILIES = {"mlp": MLPModel, "poly": PolyModel, "gbm": GBMModel, "mixlaw": MixingLawModel, "gp": GPModel}
#: options a family gets when picked by name (the class defaults keep their older meaning for direct use)
DEFAULTS = {"poly": {"ridge": "cv"}}

__all__ = ["FAMILIES", "DEFAULTS", "GBMModel", "GPModel", "MixingLawModel", "MLPModel", "PolyModel"]
