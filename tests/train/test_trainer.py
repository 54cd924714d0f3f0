import json

import numpy as np
import pytest
import torch
from scipy import stats

from mixscale.errors import ValidationError
from mixscale.train.trainer import MixtureSampler, TrainConfig, train

W = {"prose_a": 0.6, "prose_b": 0.1, "code": 0.3}


def _cfg(**kw):
    base = dict(mixture=W, steps=20, n_layer=1, n_head=2, d_model=16, batch_size=4, context=16, n_evals=4, eval_seqs=4)
    return TrainConfig(**{**base, **kw})


def test_mixture_sampling_frequencies_match_weights(tiny_corpus):
    sampler = MixtureSampler(tiny_corpus, W, 16, torch.Generator().manual_seed(0))
    draws = sampler.domain_draws(30000).numpy()
    counts = np.bincount(draws, minlength=len(sampler.domains))
    expected = np.array([W[d] for d in sampler.domains]) * len(draws)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    x, y = sampler.batch(8)
    assert x.shape == (8, 16) and torch.equal(x[:, 1:], y[:, :-1])


def test_zero_weight_domain_is_never_sampled(tiny_corpus):
    sampler = MixtureSampler(tiny_corpus, {"prose_a": 0.0, "prose_b": 0.5, "code": 0.5}, 16, torch.Generator())
    assert "prose_a" not in sampler.domains


def test_twenty_step_run_resumes_exactly(tiny_corpus, tmp_path):
    straight = train(_cfg(), tiny_corpus)
    out = tmp_path / "run"
    partial = train(_cfg(), tiny_corpus, out, stop_after=10)
    assert partial == {"stopped_at": 10} and (out / "checkpoint.pt").is_file()
    resumed = train(_cfg(), tiny_corpus, out)
    assert [p["step"] for p in resumed["curve"]] == [5, 10, 15, 20]
    for a, b in zip(straight["curve"], resumed["curve"], strict=True):
        assert a == b  # bit-identical losses: parameters, optimizer and sampler state all restored
    assert not (out / "checkpoint.pt").exists()
    assert json.loads((out / "record.json").read_text())["curve"] == resumed["curve"]
    # a finished run is not trained again, and a different config cannot resume someone else's checkpoint
    assert train(_cfg(), tiny_corpus, out)["curve"] == resumed["curve"]
    train(_cfg(seed=5), tiny_corpus, tmp_path / "other", stop_after=5)
    with pytest.raises(ValidationError, match="different run configuration"):
        train(_cfg(seed=6), tiny_corpus, tmp_path / "other")


def test_record_reports_bits_per_byte_and_provenance(tiny_corpus):
    r = train(_cfg(steps=30, lr=1e-2), tiny_corpus)
    first, last = r["curve"][0], r["curve"][-1]
    assert set(first) >= {"prose_a", "prose_b", "code", "avg", "step"}
    assert last["avg"] < first["avg"]  # it learns
    assert 0.5 < last["avg"] < 10  # bits per byte, not nats per token
    assert r["flops"] == 6 * r["params_non_embedding"] * 30 * 4 * 16
    assert r["tokenizer_sha256"] == tiny_corpus.meta["tokenizer_sha256"] and r["code_version"]
    assert train(_cfg(steps=30, lr=1e-2), tiny_corpus)["curve"] == r["curve"]  # deterministic under a seed


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"mixture": {"prose_a": 0.5}}, "mixture"),
        ({"mixture": {"prose_a": 0.5, "poetry": 0.5}}, "mixture"),
        ({"mixture": {"prose_a": -0.5, "code": 1.5}}, "mixture"),
        ({"steps": 0}, "steps"),
        ({"n_head": 3}, "n_head"),
    ],
)
def test_bad_config_names_the_field(tiny_corpus, kw, field):
    with pytest.raises(ValidationError) as e:
        train(_cfg(**kw), tiny_corpus)
    assert e.value.field == field


def test_training_objective_trains_real_models_from_a_study_file(tiny_corpus, tmp_path):
    from mixscale.space import Config
    from mixscale.study import studyfile

    data = {
        "strategy": "random",
        "budget": 2.0,
        "scales": [{"name": "tiny", "n_layer": 1, "n_head": 2, "d_model": 16, "lr": 1e-2}, "13k"],
        "steps": [10, 20],
        "objective": {"type": "train", "data": str(tiny_corpus.root), "metric": "loss:code", "batch_size": 4,
                      "context": 16, "runs_dir": str(tmp_path / "runs")},
    }  # fmt: skip
    study = studyfile.parse(data, base=tmp_path)
    obj = study.objective
    assert obj.space.domains == tiny_corpus.domains and obj.space.target == ("13k", 20)
    cfg = Config({"prose_a": 0.2, "prose_b": 0.3, "code": 0.5}, "tiny", 10)
    obs = obj.evaluate(cfg, seed=3)
    assert obs.cost == pytest.approx(obj.space.cost("tiny", 10)) and 0 < obs.cost < 0.5
    assert obs.curve[-1] == (10, obs.value) and len(obs.curve) == 10
    assert obj.evaluate(cfg, seed=3) == obs  # answered from the run cache, identical
    with pytest.raises(ValidationError) as e:
        studyfile.parse({**data, "objective": {**data["objective"], "metric": "loss:poetry"}}, base=tmp_path)
    assert e.value.field == "objective.metric"
    with pytest.raises(ValidationError) as e:
        studyfile.parse({**data, "scales": ["13k", "huge"]}, base=tmp_path)
    assert e.value.field == "scales[1]"


def test_epochs_are_counted_and_unique_tokens_can_be_capped(tiny_corpus, tmp_path):
    from mixscale.runs import records_to_table

    free = train(_cfg(steps=24), tiny_corpus)
    capped = train(_cfg(steps=24, unique_tokens={"code": 200}), tiny_corpus)
    assert capped["unique_tokens"]["code"] == 200 and free["unique_tokens"]["code"] > 200
    for r in (free, capped):  # every drawn sequence is counted: epochs x unique tokens = tokens seen
        seen = sum(r["epochs"][d] * r["unique_tokens"][d] for d in r["epochs"])
        assert seen == pytest.approx(24 * 4 * 16)
    # same draws (same seed), fewer unique tokens: more epochs of code, in proportion
    ratio = capped["epochs"]["code"] / free["epochs"]["code"]
    assert ratio == pytest.approx(free["unique_tokens"]["code"] / 200)
    table = records_to_table([{**capped, "run_id": "c"}])
    last = table[table.step == 24].iloc[0]
    assert last["epochs:code"] == pytest.approx(capped["epochs"]["code"]) and last["unique_tokens:code"] == 200
    with pytest.raises(ValidationError) as e:
        train(_cfg(unique_tokens={"code": 5}), tiny_corpus)
    assert e.value.field == "unique_tokens.code"
    # resume keeps the counts
    out = tmp_path / "r"
    train(_cfg(steps=24, unique_tokens={"code": 200}), tiny_corpus, out, stop_after=12)
    assert train(_cfg(steps=24, unique_tokens={"code": 200}), tiny_corpus, out)["epochs"] == capped["epochs"]
