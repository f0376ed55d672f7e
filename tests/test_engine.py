"""adlib.engine on CPU: a tiny conv student regressing a fixed random conv teacher on 32×32 synthetic images."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from adlib.data.mvtec import MVTecAD
from adlib.data.schema import collate
from adlib.data.synthetic import generate
from adlib.engine import (SCHEMA_VERSION, StepSampler, StopFit, build_results, data_info, environment_report,
                          evaluate_method, fit, load_checkpoint, make_loader, protocol_from, read_results,
                          resolve_batch_policy, seed_everything, timings_from, validate_results, write_results)
from adlib.engine import batches
from adlib.engine.results import ENV_KEYS, TOP_KEYS
from adlib.engine.batches import DeviceCache
from adlib.methods.base import AnomalyMethod, Prediction
from adlib.methods.common import ImageScore
from adlib.metrics import evaluate

SHA = "0" * 64


@dataclass
class TinyConfig:
    lr: float = 1e-2
    noise: float = 0.01


class TinyKD(AnomalyMethod):
    """Frozen random conv teacher, 2-layer conv student; per-pixel squared error maps. Uses torch and
    numpy randomness in training (input noise) so that RNG restoring is exercised."""

    name = "tiny_kd"

    def __init__(self, config: TinyConfig | None = None, init_seed: int = 0):
        super().__init__()
        self.config = config or TinyConfig()
        g = torch.Generator().manual_seed(1234)  # the same teacher whatever the init seed
        self.teacher = nn.Conv2d(3, 8, 3, padding=1)
        with torch.no_grad():
            for p in self.teacher.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
                p.requires_grad_(False)
        torch.manual_seed(init_seed)
        self.student = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3, padding=1))

    def training_step(self, batch):
        x = batch["image"]
        x = x * (1 + self.config.noise * float(np.random.rand())) + self.config.noise * torch.randn_like(x)
        with torch.no_grad():
            t = self.teacher(x)
        d = self.student(x) - t
        mse = d.pow(2).mean()
        return {"loss": mse, "mse": mse, "l1": d.abs().mean()}

    @torch.no_grad()
    def predict(self, batch):
        x = batch["image"]
        m = (self.student(x) - self.teacher(x)).pow(2).mean(1, keepdim=True)
        return m, m.flatten(1).amax(1)

    def configure_optimizer(self, total_steps=None):
        opt = torch.optim.Adam(self.student.parameters(), lr=self.config.lr)
        return {"optimizer": opt, "scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.8)}

    def weights_info(self):
        return {"name": "random-teacher", "source": "generated in the test (seed 1234)", "sha256": SHA}

    def checkpoint_state(self):
        return {k: v for k, v in self.state_dict().items() if not k.startswith("teacher.")}

    def load_checkpoint_state(self, state):
        missing, unexpected = self.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith("teacher.") for k in missing)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    generate(root, categories="weave", image_size=32, n_train=8, n_test_good=4, n_test_defect=2, progress=False)
    return {"root": root, "train": MVTecAD(root, "weave", "train", image_size=32),
            "test": MVTecAD(root, "weave", "test", image_size=32)}


def quiet(**kw):
    return {"progress": False, "batch_size": 3, **kw}


def params(m):
    return {k: v.clone() for k, v in m.student.state_dict().items()}


def test_loss_decreases_and_records(data):
    res = fit(TinyKD(), data["train"], steps=30, **quiet())
    loss = res.history["loss"]
    assert len(loss) == 30 and set(res.history) == {"loss", "mse", "l1"}
    assert all(isinstance(v, float) for v in loss)
    assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:5])
    cuda = torch.cuda.is_available()  # device "auto": bf16 + channels-last on CUDA, plain fp32 on the CPU
    expected = ("cuda", "bf16", True) if cuda else ("cpu", None, False)
    assert (res.device, res.amp, res.channels_last, res.ckpt_selection) == (*expected, "last")
    assert res.steps == 30 and res.steps_per_epoch == 3 and res.epochs == 10
    assert res.images_per_s > 0 and res.train_s > 0 and res.timings["train_images_per_s"] == res.images_per_s


def test_epochs_and_stop(data):
    assert fit(TinyKD(), data["train"], epochs=2, **quiet()).steps == 6
    assert fit(TinyKD(), data["train"], epochs=2, drop_last=True, **quiet()).steps == 4

    def stop(event, info):
        if event == "log" and info["step"] >= 4:
            raise StopFit

    res = fit(TinyKD(), data["train"], steps=20, log_every=2, callbacks=[stop], **quiet())
    assert res.steps == 4 and len(res.history["loss"]) == 4
    with pytest.raises(ValueError, match="exactly one"):
        fit(TinyKD(), data["train"], steps=3, epochs=1, **quiet())


def test_seeding_reproducible(data):
    a = fit(TinyKD(), data["train"], steps=12, seed=3, **quiet())
    b = fit(TinyKD(), data["train"], steps=12, seed=3, **quiet())
    c = fit(TinyKD(), data["train"], steps=12, seed=4, **quiet())
    assert a.history == b.history
    assert a.history["loss"] != c.history["loss"]


def test_seed_everything_and_samplers(data):
    g = seed_everything(5)
    assert isinstance(g, torch.Generator)
    x = (torch.rand(3), np.random.rand())
    seed_everything(5)
    assert torch.equal(x[0], torch.rand(3)) and x[1] == np.random.rand()
    full = list(StepSampler(8, 3, total_steps=10, seed=1))
    assert full[5:] == list(StepSampler(8, 3, total_steps=10, start_step=5, seed=1))
    assert sorted(i for b in full[:3] for i in b) == list(range(8))  # one epoch covers every image once
    order = [b["path"] for b in make_loader(data["train"], 4, shuffle=True, seed=2)]
    assert order == [b["path"] for b in make_loader(data["train"], 4, shuffle=True, seed=2)]


def test_resume_exact(data, tmp_path):
    straight = TinyKD()
    ref = fit(straight, data["train"], steps=12, seed=7, **quiet())
    first = fit(TinyKD(), data["train"], steps=6, seed=7, checkpoint_dir=tmp_path, **quiet())
    ck = load_checkpoint(tmp_path / "last.pt")
    assert ck["step"] == 6 and not any(k.startswith("teacher.") for k in ck["model"])
    assert len(ck["history"]["loss"]) == 6 and first.checkpoint_path.endswith("last.pt")
    fresh = TinyKD(init_seed=99)  # different init: everything must come from the checkpoint
    res = fit(fresh, data["train"], steps=12, seed=7, checkpoint_dir=tmp_path, resume=True, **quiet())
    assert res.resumed_from_step == 6 and res.steps == 12
    assert res.history == ref.history
    for k, v in params(straight).items():
        assert torch.equal(v, params(fresh)[k]), k
    with pytest.raises(ValueError, match="different settings"):
        fit(TinyKD(), data["train"], steps=14, seed=8, checkpoint_dir=tmp_path, resume=True, **quiet())


def test_device_cache_matches_dataloader(data):
    cache = DeviceCache(data["train"], torch.device("cpu"), progress=False)
    ref = collate([data["train"][i] for i in (0, 5, 2)])
    got = cache.batch([0, 5, 2])
    for k in ("image", "mask", "label", "orig_size", "has_mask"):
        assert torch.equal(got[k], ref[k]), k
    assert got["defect"] == ref["defect"] and got["path"] == ref["path"]
    a = fit(TinyKD(), data["train"], steps=8, seed=1, **quiet())
    b = fit(TinyKD(), data["train"], steps=8, seed=1, on_gpu_cache=True, **quiet())
    assert b.on_gpu_cache
    if a.device == "cpu":
        assert a.history == b.history
    else:  # CUDA: the two input paths may pick different (equally valid) kernels; float noise only
        for k in a.history:
            np.testing.assert_allclose(a.history[k], b.history[k], rtol=1e-4)


def test_evaluate_method(data):
    method = TinyKD()  # on the CPU in fp32: compared below with per-sample predictions to 1e-6
    fit(method, data["train"], steps=10, **quiet(device="cpu"))
    er = evaluate_method(method, data["test"], batch_size=4, progress=False, return_maps=True, device="cpu")
    assert er.counts["n_images"] == 10 and er.counts["n_normal"] == 4 and er.counts["n_anomalous"] == 6
    assert er.counts["per_defect"] == {"good": 4, "hole": 2, "scratch": 2, "stain": 2}
    assert set(er.metrics) == {"image_auroc", "image_f1_max", "pixel_auroc", "pixel_ap", "pixel_f1_max", "aupro"}
    assert er.metrics["aupro"].protocol["mode"] == "mvtec" and er.metrics["aupro"].protocol["fpr_limit"] == 0.3
    assert er.metrics["pixel_auroc"].protocol["mask_resolution"] == [32, 32]
    assert all(0 <= v <= 1 for v in er.summary().values())
    assert set(er.per_defect()) == {"hole", "scratch", "stain"}
    assert er.scores.shape == (10,) and er.maps.shape == (10, 32, 32) and er.labels.tolist() == data["test"].labels.tolist()
    assert er.timings["images_per_s"] > 0 and method.training  # training mode restored
    # the same numbers as metrics.evaluate on per-sample predictions
    with torch.no_grad():
        method.eval()
        samples = [data["test"][i] for i in range(10)]
        maps = torch.cat([method.predict(collate([s]))[0] for s in samples])
        method.train()
    direct = evaluate(maps[:, 0], maps.flatten(1).amax(1), [s["label"] for s in samples],
                      torch.stack([s["mask"][0] for s in samples]), [s["defect"] for s in samples])
    for k, v in direct.items():
        assert er[k] == pytest.approx(v.value, abs=1e-6), k
    small = evaluate_method(method, data["test"], batch_size=4, progress=False, map_size=16, aupro_mode="rd4ad_legacy",
                            device="cpu")
    assert small.protocol["mask_resolution"] == [16, 16] and small.metrics["aupro"].protocol["mode"] == "rd4ad_legacy"


def test_test_selection_needs_permission(data):
    with pytest.raises(ValueError, match="test split"):
        fit(TinyKD(), data["train"], steps=6, val_data=data["test"], ckpt_selection="best_val", **quiet())
    method = TinyKD()
    res = fit(method, data["train"], steps=9, val_data=data["test"], ckpt_selection="best_val", eval_every=3,
              allow_test_selection=True, selection_metric=("image_auroc", "pixel_auroc"), **quiet())
    assert res.ckpt_selection == "best_on_test" and res.protocol["val_on_test"]
    assert [r["step"] for r in res.val_history] == [3, 6, 9]
    best = max(res.val_history, key=lambda r: r["selection_value"])
    assert res.best_step == best["step"] and res.selection_metric == "image_auroc+pixel_auroc"
    assert protocol_from(res)["ckpt_selection"] == "best_on_test"
    if res.best_step != 9:
        assert res.final_state is not None
    # validation must not disturb training: same trajectory as without it
    assert res.history == fit(TinyKD(), data["train"], steps=9, **quiet()).history


def test_best_val_loss_on_normal_only_validation(data, tmp_path):
    res = fit(TinyKD(), data["train"], steps=9, val_data=data["train"], ckpt_selection="best_val", eval_every=3,
              checkpoint_dir=tmp_path, **quiet())
    assert res.selection_metric == "val_loss" and res.ckpt_selection == "best_val"
    assert res.best_value == min(r["val_loss"] for r in res.val_history)
    assert (tmp_path / "best.pt").is_file() and load_checkpoint(tmp_path / "best.pt")["step"] == res.best_step


def make_results(data, tmp_path):
    method = TinyKD()
    fr = fit(method, data["train"], steps=6, **quiet())
    er = evaluate_method(method, data["test"], progress=False)
    return build_results("Tiny (test)", method.name, "synthetic", "weave", 0, method.config_dict(),
                         protocol_from(fr, er, image_size=32), er, None, method.weights_info(),
                         data_info("synthetic", data["root"], None, train=data["train"], test=data["test"]),
                         timings_from(fr, er), extra={"note": "unit test"})


def test_results_roundtrip(data, tmp_path):
    d = make_results(data, tmp_path)
    assert [k for k in d if k != "extra"] == list(TOP_KEYS) and d["schema_version"] == SCHEMA_VERSION
    assert set(ENV_KEYS) <= set(d["env"]) and set(ENV_KEYS) <= set(environment_report())
    assert d["protocol"]["ckpt_selection"] == "last" and d["protocol"]["aupro_mode"] == "mvtec"
    assert d["data"]["counts"]["test"]["good"] == 4 and set(d["per_defect"]) == {"hole", "scratch", "stain"}
    validate_results(d)
    path = write_results(d, tmp_path / "out" / "results.json")
    assert read_results(path) == d == json.loads(path.read_text())
    assert not list(path.parent.glob(".*tmp"))


def test_results_validation_errors(data, tmp_path):
    d = make_results(data, tmp_path)
    d.pop("paper")
    d["metrics"]["image_auroc"]["value"] = 1.5
    d["weights"]["source"] = ""
    d["weights"]["sha256"] = "xyz"
    d["protocol"]["ckpt_selection"] = "best_guess"
    d["seed"] = "0"
    with pytest.raises(ValueError) as err:
        validate_results(d)
    msg = str(err.value)
    for needle in ("paper: missing", "metrics.image_auroc.value", "weights.source", "weights.sha256",
                   "ckpt_selection", "seed"):
        assert needle in msg, needle
    with pytest.raises(ValueError):
        write_results(d, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_progress_false_prints_nothing(data, capfd):
    method = TinyKD()
    fit(method, data["train"], steps=5, val_data=data["train"], **quiet())
    evaluate_method(method, data["test"], progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    fit(method, data["train"], steps=2, batch_size=3, progress=True)
    assert "fit tiny_kd" in capfd.readouterr().err


def test_heartbeat_env_says_how_far_a_quiet_run_got(data, capfd, monkeypatch):
    """ADLIB_HEARTBEAT_S: a batch job with progress bars off still logs where training and evaluation are (a run a
    deadline stops leaves that trace); unset, a quiet run prints nothing (above); a bad value is a clear error."""
    monkeypatch.setenv("ADLIB_HEARTBEAT_S", "1e-9")  # every step
    method = TinyKD()
    fit(method, data["train"], steps=3, **quiet(batch_size=4))
    evaluate_method(method, data["test"], batch_size=4, progress=False)
    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert out == "" and all(line.startswith("[heartbeat pid ") for line in lines)
    assert [line.split("] ")[1].rsplit(",", 1)[0] for line in lines] == [  # set up, then each step / batch done
        "fit tiny_kd: step 0/3", "fit tiny_kd: step 1/3", "fit tiny_kd: step 2/3", "fit tiny_kd: step 3/3",
        f"predict {data['test'].name}: batch 0/3", f"predict {data['test'].name}: batch 1/3",
        f"predict {data['test'].name}: batch 2/3", f"predict {data['test'].name}: batch 3/3"]
    monkeypatch.setenv("ADLIB_HEARTBEAT_S", "0")
    fit(method, data["train"], steps=2, **quiet(batch_size=4))
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("ADLIB_HEARTBEAT_S", "soon")
    with pytest.raises(ValueError, match="ADLIB_HEARTBEAT_S must be a number of seconds, got 'soon'"):
        fit(method, data["train"], steps=2, **quiet(batch_size=4))


def test_loco_metrics_and_cpu_bf16(tmp_path):
    from adlib.data.loco import MVTecLOCO

    generate(tmp_path, categories="tray", image_size=32, n_train=4, n_test_good=3, n_test_defect=2, n_validation=3,
             progress=False)
    train, test = MVTecLOCO(tmp_path, "tray", "train", image_size=32), MVTecLOCO(tmp_path, "tray", "test", image_size=32)
    method = TinyKD()
    res = fit(method, train, steps=4, amp="bf16", channels_last=True, on_gpu_cache=True, **quiet())
    assert (res.amp, res.channels_last, res.on_gpu_cache) == ("bf16", True, True)
    er = evaluate_method(method, test, progress=False, amp="bf16", channels_last=True)
    assert set(er["loco_image_auroc"]) == {"logical", "structural", "mean"}
    assert set(er["spro"]["mean"]) == {0.01, 0.05, 0.1, 0.3, 1.0} and er.protocol["spro_fpr_limits"][-1] == 1.0
    assert er.metrics["aupro"].protocol["mask_resolution"] == [32, 32] and er.counts["n_images"] == len(test)
    assert evaluate_method(method, test, progress=False, map_size=16)["spro"]["mean"][1.0] > 0


def test_git_commit_override_for_copies_without_git(monkeypatch, tmp_path):
    from adlib.engine import git_commit

    monkeypatch.delenv("ADLIB_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) is None  # not a checkout
    sha = "0123456789abcdef0123456789ABCDEF01234567"
    monkeypatch.setenv("ADLIB_GIT_COMMIT", sha)
    assert git_commit(tmp_path) == sha.lower()
    monkeypatch.setenv("ADLIB_GIT_COMMIT", "main")
    with pytest.raises(ValueError, match="40-digit"):
        git_commit(tmp_path)


def test_git_commit_names_the_code_this_process_loaded_not_a_later_head(monkeypatch, tmp_path):
    """A long-lived worker whose checkout gains a commit while it trains must not name that commit (it runs the code
    it imported): results take HEAD as of ``adlib.engine``'s import."""
    import subprocess

    from adlib.engine import env as engine_env
    from adlib.engine import git_commit

    monkeypatch.delenv("ADLIB_GIT_COMMIT", raising=False)
    loaded = git_commit()
    head = subprocess.run(["git", "-C", str(engine_env._PACKAGE_ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or None
    assert loaded == engine_env._IMPORT_COMMIT and (loaded is None or loaded == head)  # this test process: no new commit
    if loaded is None:
        pytest.skip("adlib is not in a git checkout here")
    repo = tmp_path / "repo"  # a checkout whose HEAD moves: git_commit(path) follows it, git_commit() does not
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True, check=True)  # noqa: E731
    repo.mkdir()
    run("init", "-q")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one")
    first = git_commit(repo)
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "two")
    assert git_commit(repo) not in (None, first) and git_commit() == loaded
    monkeypatch.setattr(engine_env, "_rev_parse", lambda where: "f" * 40)  # a later HEAD of adlib's own checkout
    assert git_commit() == loaded


# -- the batch policy (on-GPU cache / DataLoader workers) -----------------------------------------
class _Keyed:
    keyed_draws = True

    def __len__(self):
        return 8


def test_batch_policy_cpu_is_no_cache_no_workers(data):
    cpu = torch.device("cpu")
    assert resolve_batch_policy(data["train"], cpu) == (False, 0)
    assert resolve_batch_policy(_Keyed(), cpu) == (False, 0)
    assert resolve_batch_policy(data["train"], cpu, on_gpu_cache=True, num_workers=2) == (True, 2)  # explicit kept
    with pytest.raises(ValueError, match="num_workers"):
        resolve_batch_policy(data["train"], cpu, num_workers="many")
    with pytest.raises(ValueError, match="on_gpu_cache"):
        resolve_batch_policy(data["train"], cpu, on_gpu_cache="yes")


def test_batch_policy_cuda(data, monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(batches.os, "cpu_count", lambda: 16)

    def no_query(device):
        raise AssertionError("keyed datasets never ask for GPU memory")

    monkeypatch.setattr(torch.cuda, "mem_get_info", no_query)
    assert resolve_batch_policy(_Keyed(), cuda) == (False, 8)  # CPU synthesis: workers (capped at 8)
    monkeypatch.setattr(batches.os, "cpu_count", lambda: 2)
    assert resolve_batch_policy(_Keyed(), cuda) == (False, 1)
    need = len(data["train"]) * 4 * 32 * 32  # uint8 images + masks
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (4 * need + 4, 10**12))
    assert resolve_batch_policy(data["train"], cuda) == (True, 0)  # plain images that fit: kept on the GPU
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (4 * need, 10**12))
    assert resolve_batch_policy(data["train"], cuda) == (False, 0)  # a quarter of free memory is the limit
    assert resolve_batch_policy(data["train"], cuda, on_gpu_cache=False, num_workers=3) == (False, 3)


# -- evaluate_method: Prediction outputs and image-score rules ------------------------------------
class TinyKDPrediction(TinyKD):
    """TinyKD whose predict returns a Prediction (with a part) instead of a pair."""

    @torch.no_grad()
    def predict(self, batch):
        m, s = super().predict(batch)
        return Prediction(m, s, {"half": m / 2})


def test_evaluate_accepts_prediction_and_records_the_image_score(data):
    pair = TinyKD()
    fit(pair, data["train"], steps=4, **quiet(device="cpu"))
    pred = TinyKDPrediction()
    pred.load_state_dict(pair.state_dict())
    a = evaluate_method(pair, data["test"], progress=False, device="cpu")
    b = evaluate_method(pred, data["test"], progress=False, device="cpu")
    assert a.summary() == b.summary() and torch.equal(a.scores, b.scores)
    assert a.protocol["image_score"] == str(pair.image_score_rule) == "max"

    class Plain(nn.Module):  # not an AnomalyMethod: no image_score_rule
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def predict(self, batch):
            return self.inner.predict(batch)

    assert evaluate_method(Plain(pair), data["test"], progress=False, device="cpu").protocol["image_score"] == "method"


def test_evaluate_image_score_override(data):
    method = TinyKD()
    fit(method, data["train"], steps=4, **quiet(device="cpu"))
    own = evaluate_method(method, data["test"], progress=False, device="cpu", return_maps=True)
    same = evaluate_method(method, data["test"], progress=False, device="cpu", image_score="max")
    assert torch.equal(own.scores, same.scores) and same.protocol["image_score"] == "max"
    top = evaluate_method(method, data["test"], progress=False, device="cpu", image_score="topk_mean:5", map_size=16)
    expected = own.maps.flatten(1).topk(5, dim=1).values.mean(1)  # at the map's own 32×32, before map_size
    torch.testing.assert_close(top.scores, expected, rtol=0, atol=1e-7)
    assert top.protocol["image_score"] == "topk_mean:5" and top.protocol["mask_resolution"] == [16, 16]
    rule = evaluate_method(method, data["test"], progress=False, device="cpu", image_score=ImageScore("topk_mean", 5))
    assert torch.equal(rule.scores, top.scores) and rule["image_auroc"] == top["image_auroc"]
    with pytest.raises(ValueError, match="topk_mean"):
        evaluate_method(method, data["test"], progress=False, device="cpu", image_score="topk_mean")


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"epochs": -2}, {"epochs": 0.5}, {"epochs": 2.0}, {"steps": True},
                                 {"steps": "3"}, {"steps": 5, "batch_size": 0}])
def test_schedule_must_be_positive_integers(data, bad):
    """epochs 0 / -2 / 0.5 used to train nothing and report an untrained model as done."""
    kwargs = {"batch_size": 4, **bad}
    key = next(k for k, v in bad.items() if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1))
    with pytest.raises(ValueError, match=f"{key} must be a positive integer, got {bad[key]!r}"):
        fit(TinyKD(), data["train"], **kwargs, progress=False)


def test_environment_records_what_decides_cpu_rounding():
    """The CPU model, torch's SIMD level and thread count go into every results file: the same code on
    another CPU or with another thread count trains to other numbers (docs/results/platform_refactor_mtd)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        env = environment_report("cpu")
        assert env["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert environment_report("cpu")["torch_threads"] == before
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["cpu_model"] is None or isinstance(env["cpu_model"], str) and env["cpu_model"]


def test_cpu_signature_reads_vendor_and_model_from_cpuinfo(monkeypatch, tmp_path):
    """cpu_model / cpu_vendor / cpu_signature read one /proc/cpuinfo field each (the pinned-cell test picks its
    numbers by the signature); no cpuinfo → the model falls back to platform, the vendor to None."""
    import builtins

    from adlib.engine import env as env_mod

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC: test\n\n"
                    "processor\t: 1\nvendor_id\t: Other\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(fake if f == "/proc/cpuinfo" else f, *a, **k))
    assert env_mod.cpu_vendor() == "AuthenticAMD"
    assert env_mod.cpu_model() == "AMD EPYC: test"  # only the first colon splits
    assert env_mod.cpu_signature() == f"AuthenticAMD/{torch.backends.cpu.get_cpu_capability()}"
    assert env_mod.environment_report("cpu")["cpu_vendor"] == "AuthenticAMD"
    fake.unlink()
    monkeypatch.setattr(env_mod.platform, "processor", lambda: "x86_64")
    assert env_mod.cpu_vendor() is None and env_mod.cpu_model() == "x86_64"
    assert env_mod.cpu_signature().startswith("unknown/")


def test_thread_count_is_set_deliberately_and_recorded(monkeypatch):
    """run_experiment's thread count: argument, else $ADLIB_THREADS, else $OMP_NUM_THREADS, else cores - 1."""
    from adlib.engine import env as env_mod

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("ADLIB_THREADS", "2")
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert env_mod.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert environment_report("cpu")["torch_threads_source"] == "argument"
        assert env_mod.set_threads() == 2 and environment_report("cpu")["torch_threads_source"] == "ADLIB_THREADS"
        monkeypatch.delenv("ADLIB_THREADS")
        assert env_mod.set_threads() == 3 and environment_report("cpu")["torch_threads_source"] == "OMP_NUM_THREADS"
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(env_mod.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
        assert env_mod.default_threads() == 1 and env_mod.set_threads() == 1
        assert environment_report("cpu")["torch_threads"] == 1
        with pytest.raises(ValueError, match="ADLIB_THREADS"):
            monkeypatch.setenv("ADLIB_THREADS", "0")
            env_mod.set_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_adlib"])
def test_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    """A damaged last.pt / best.pt: one error naming it and what to do, not a raw torch traceback."""
    path = tmp_path / "last.pt"
    torch.save({"format": "x", "w": torch.zeros(100)}, path)
    raw = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": raw[: len(raw) // 2], "not_adlib": raw}[damage])
    with pytest.raises(ValueError, match="Delete it") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_fit_sets_the_thread_count_once_per_process(monkeypatch):
    """A notebook calling fit / evaluate_method directly gets a deliberate count too, chosen once."""
    from adlib.engine import env as env_mod

    before, source = torch.get_num_threads(), env_mod._threads_source
    try:
        monkeypatch.setattr(env_mod, "_threads_source", None)
        monkeypatch.setenv("ADLIB_THREADS", "1")
        assert env_mod.ensure_threads() == 1 and environment_report("cpu")["torch_threads_source"] == "ADLIB_THREADS"
        monkeypatch.setenv("ADLIB_THREADS", "2")
        assert env_mod.ensure_threads() == 1  # already chosen: not changed behind the user's back
        monkeypatch.setattr(env_mod, "_threads_source", None)
        g = torch.Generator().manual_seed(0)
        data = [{"image": torch.rand(3, 16, 16, generator=g), "label": 0} for _ in range(4)]
        fit(TinyKD(), data, steps=1, batch_size=2, device="cpu", progress=False)
        assert torch.get_num_threads() == 2 and env_mod._threads_source == "ADLIB_THREADS"
    finally:
        torch.set_num_threads(before)
        env_mod._threads_source = source


def test_thread_count_changes_only_float_rounding():
    """Issue 22: the deliberate thread count (1 on a 2-core machine, was torch's 2) moves results by rounding only."""
    before = torch.get_num_threads()
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            g = torch.Generator().manual_seed(0)
            data = [{"image": torch.rand(3, 32, 32, generator=g), "label": 0} for _ in range(8)]
            model = TinyKD()
            res = fit(model, data, steps=20, batch_size=4, device="cpu", progress=False, seed=0)
            with torch.no_grad():
                maps, _ = model.eval().predict({"image": torch.stack([d["image"] for d in data])})
            out[n] = (res.history["loss"], maps)
    finally:
        torch.set_num_threads(before)
    assert out[1][0] == pytest.approx(out[2][0], rel=1e-4)
    torch.testing.assert_close(out[1][1], out[2][1], rtol=1e-4, atol=1e-6)


def test_loss_curve_keeps_window_means_and_exact_zeros():
    """What a results file keeps of the per-step history: 20 window means per term and the steps at exactly 0."""
    from types import SimpleNamespace

    from adlib.engine.state import FitResult

    history = {"loss": [float(i) for i in range(40)], "con": [0.0] * 30 + [0.5] * 10, "ot": []}
    curve = FitResult.loss_curve(SimpleNamespace(history=history))
    assert set(curve) == {"loss", "con"}  # a term never logged is left out
    assert curve["loss"]["steps"] == 40 and curve["loss"]["window_means"][:2] == [0.5, 2.5]
    assert len(curve["loss"]["window_means"]) == 20 and curve["loss"]["zero_steps"] == 1
    assert curve["con"]["zero_steps"] == 30 and curve["con"]["window_means"][-1] == 0.5
    short = FitResult.loss_curve(SimpleNamespace(history={"loss": [1.0, 2.0, 4.0]}), windows=20)
    assert short["loss"]["window_means"] == [1.0, 2.0, 4.0]
