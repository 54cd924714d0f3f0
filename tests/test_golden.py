"""The layout may move; behaviour may not: one seed of every strategy on the analytic simulator, as recorded."""

import json
import math

from golden import GOLDEN, golden_run


def test_golden_run_unchanged():
    want = json.loads(GOLDEN.read_text())
    got = golden_run()
    assert set(got) == set(want)
    for name, w in want.items():
        g = got[name]
        assert g["queries"] == w["queries"], name
        assert math.isclose(g["regret"], w["regret"], rel_tol=1e-3, abs_tol=1e-5), name
        for d, v in w["mixture"].items():
            assert abs(g["mixture"][d] - v) <= 2e-3, (name, d)
