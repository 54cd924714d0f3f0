import json

from typer.testing import CliRunner

from mixscale.exchangeable.cli import app

runner = CliRunner()
TINY = ["--n-layers", "1", "--d-model", "16", "--n-heads", "2", "--d-ff", "32", "--batch-size", "4"]


def test_bad_option_exits_2_and_names_field(tmp_path):
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "m.pt"), "--attention", "sideways"])
    assert r.exit_code == 2 and "attention" in r.output
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "m.pt"), "--prior", "nope"])
    assert r.exit_code == 2 and "prior" in r.output
    r = runner.invoke(app, ["evaluate", "--checkpoint", str(tmp_path / "missing.pt")])
    assert r.exit_code == 2 and "checkpoint" in r.output


def test_train_evaluate_diagnostics_end_to_end(tmp_path):
    ck = tmp_path / "gp.pt"
    r = runner.invoke(app, ["train", "--out", str(ck), "--steps", "3", "--seq-len", "8", *TINY])
    assert r.exit_code == 0, r.output
    assert json.loads(ck.with_suffix(".json").read_text())["steps"] == 3
    out = tmp_path / "eval"
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--checkpoint",
            str(ck),
            "--out",
            str(out),
            "--contexts",
            "0,2",
            "--n-targets",
            "3",
            "--n-sets",
            "4",
            "--n-perms",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "evaluate.csv").is_file() and (out / "joint_ll_gap.png").is_file()
    out = tmp_path / "diag"
    r = runner.invoke(
        app,
        [
            "diagnostics",
            "--checkpoint",
            str(ck),
            "--out",
            str(out),
            "--n-sets",
            "3",
            "--set-size",
            "4",
            "--n-perms",
            "2",
            "--horizon",
            "3",
            "--rollouts",
            "4",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "diagnostics.csv").is_file() and (out / "martingale_drift.png").is_file()
    r = runner.invoke(app, ["bandit", "--checkpoint", str(ck), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2  # wrong prior for the task


def test_bandit_and_active_learning_commands(tmp_path):
    bk, ak = tmp_path / "b.pt", tmp_path / "a.pt"
    assert runner.invoke(app, ["train", "--out", str(bk), "--prior", "bandit", "--steps", "2", *TINY]).exit_code == 0
    assert runner.invoke(app, ["train", "--out", str(ak), "--prior", "al", "--steps", "2", *TINY]).exit_code == 0
    r = runner.invoke(
        app,
        [
            "bandit",
            "--checkpoint",
            str(bk),
            "--out",
            str(tmp_path / "bo"),
            "--reps",
            "4",
            "--rounds",
            "5",
            "--horizon",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "bo" / "bandit_summary.json").read_text())
    assert set(summary["final_regret"]) == {"multi", "one", "oracle"}
    png = tmp_path / "fig" / "regret.png"
    r = runner.invoke(app, ["bandit-figure", "--run", str(tmp_path / "bo"), "--out", str(png)])
    assert r.exit_code == 0, r.output
    assert png.is_file() and "causal multi-step TS (4 reps)" in r.output
    r = runner.invoke(app, ["bandit-figure", "--run", str(tmp_path), "--out", str(png)])
    assert r.exit_code == 2 and "run" in r.output
    r = runner.invoke(
        app,
        [
            "active-learning",
            "--checkpoint",
            str(ak),
            "--out",
            str(tmp_path / "ao"),
            "--reps",
            "3",
            "--n-acquire",
            "2",
            "--rollouts",
            "2",
            "--horizon",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ao" / "al_nll.png").is_file()
    r = runner.invoke(app, ["bandit", "--checkpoint", str(bk), "--rules", "multi,bogus"])
    assert r.exit_code == 2 and "rules" in r.output


def test_prior_param_validation(tmp_path):
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "m.pt"), "--prior-param", "lengthscale=-1"])
    assert r.exit_code == 2 and "lengthscale" in r.output
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "m.pt"), "--prior-param", "novalue"])
    assert r.exit_code == 2 and "prior-param" in r.output


def test_evaluate_rejects_junk_wrong_keys_and_pickles(tmp_path):
    import pickle

    import torch

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    keys = tmp_path / "keys.pt"
    torch.save({"weights": torch.zeros(2)}, keys)
    pick = tmp_path / "pickle.pt"

    class Evil:  # an arbitrary object: weights-only loading must refuse it, never run its code
        def __reduce__(self):
            return (print, ("unpickled!",))

    pick.write_bytes(pickle.dumps({"model_config": Evil()}))
    for path in (junk, keys, pick, tmp_path):
        r = runner.invoke(app, ["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "o")])
        assert r.exit_code == 2, r.output
        assert "checkpoint" in r.output and "Traceback" not in r.output and "unpickled!" not in r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "o").exists()  # nothing written


def test_run_all_quick_with_tiny_zoo(tmp_path, monkeypatch):
    from mixscale.exchangeable import presets as cli

    tiny = {"n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32, "steps": 2, "batch_size": 4}
    zoo = {k: {**v, **tiny, "seq_len": 16} for k, v in cli.ZOO.items()}
    mode = {
        **cli.MODES["quick"],
        "bandit_reps": 2, "bandit_rounds": 3, "bandit_horizon": 2, "al_reps": 2, "al_acquire": 1,
        "al_rollouts": 2, "al_horizon": 2, "eval_sets": 2, "eval_contexts": [0, 2], "eval_targets": 2,
        "eval_perms": 2, "diag_sets": 2, "diag_set_size": 3, "diag_perms": 2, "diag_horizon": 2,
        "diag_rollouts": 2,
    }  # fmt: skip
    monkeypatch.setattr(cli, "ZOO", zoo)
    monkeypatch.setitem(cli.MODES, "quick", mode)
    r = runner.invoke(app, ["run-all", "--quick", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "quick" / "summary.json").read_text())
    assert {"evaluate", "bandit", "active_learning", "diagnostics"} <= set(summary)
    assert (tmp_path / "ckpt" / "gp-cpi.pt").is_file()
    assert (tmp_path / "quick" / "al" / "al_nll.png").is_file()


def test_active_learning_paper_protocol_command(tmp_path):
    ak = tmp_path / "a.pt"
    args = ["train", "--out", str(ak), "--prior", "al", "--prior-param", "snap=false", "--steps", "2", *TINY]
    assert runner.invoke(app, args).exit_code == 0
    out = tmp_path / "paper"
    r = runner.invoke(
        app,
        ["active-learning", "--checkpoint", str(ak), "--out", str(out), "--reps", "3", "--n-acquire", "2",
         "--rollouts", "2", "--horizon", "2"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "al_summary.json").read_text())
    assert summary["protocol"] == "paper" and summary["final_labels"] == 7
    assert set(summary["final_nll"]) == {"multi", "one", "exact", "exact-total", "random"}
    assert "exact-total" in r.output and (out / "al_nll.png").is_file()
    for seed in (1, 2):  # two shards with distinct seeds pool into one table
        out_s = str(tmp_path / f"s{seed}")
        args = ["active-learning", "--checkpoint", str(ak), "--out", out_s, "--reps", str(seed + 1),
                "--n-acquire", "2", "--rules", "exact,random", "--seed", str(seed)]  # fmt: skip
        assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, ["al-merge", "--run", str(tmp_path / "s1"), "--run", str(tmp_path / "s2"),
                            "--out", str(tmp_path / "m")])  # fmt: skip
    assert r.exit_code == 0, r.output
    merged = json.loads((tmp_path / "m" / "al_summary.json").read_text())
    s1, s2 = (json.loads((tmp_path / f"s{i}" / "al_summary.json").read_text()) for i in (1, 2))
    assert merged["reps"] == {"exact": 5, "random": 5} and merged["seeds"] == [1, 2]
    want = (2 * s1["final_nll"]["exact"]["mean"] + 3 * s2["final_nll"]["exact"]["mean"]) / 5
    assert abs(merged["final_nll"]["exact"]["mean"] - want) < 1e-6
    assert (tmp_path / "m" / "al_nll.png").is_file()
    r = runner.invoke(app, ["al-merge", "--run", str(tmp_path / "s1"), "--run", str(tmp_path / "s1")])
    assert r.exit_code == 2 and "run" in r.output  # the same seed twice is not independent
    r = runner.invoke(app, ["active-learning", "--checkpoint", str(ak), "--protocol", "nope"])
    assert r.exit_code == 2 and "protocol" in r.output
    r = runner.invoke(app, ["active-learning", "--checkpoint", str(ak), "--rules", "exact-epistemic"])
    assert r.exit_code == 2 and "rules" in r.output  # a greedy-only rule under the paper protocol
