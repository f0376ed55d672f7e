"""MHKD as EfficientAD's diff (issue 19 points 2, 4, 7): the student's shapes and the 1×1×64 global code,
Table V's exact counts, the loss routing (which block each term trains; the detach switch), the weights of
Eq. 8, the Table IV switches, the named parts and the map of Eq. 9, and the LOCO protocol end to end on a
tiny tray with the report's nested sPRO values."""

from __future__ import annotations

import json

import pytest
import torch

from adlib import methods
from adlib.methods.efficientad import to_image
from adlib.methods.mhkd import MultiTaskStudent

LITE = {"teacher": "extractor:efficientnet_lite0", "width": 0.25}


def test_student_shapes_and_global_code():
    s = MultiTaskStudent(256).eval()
    inner = {}
    s.ldecoder.conv1.register_forward_hook(lambda m, i, o: inner.update(ldecoder=tuple(o.shape)))
    with torch.no_grad():
        f = s(torch.zeros(1, 3, 256, 256))
    assert f.f_l.shape == f.f_s.shape == f.f_g.shape == (1, 384, 64, 64)
    assert f.f_h.shape == (1, 512, 16, 16) and f.f_q.shape == (1, 64, 1, 1)  # the 1×1×64 global code
    assert inner["ldecoder"] == (1, 512, 33, 33)  # the code's pad-2 4×4 conv
    assert s.gdecoder.bottleneck.kernel_size == (16, 16)
    for size in (64, 128, 192, 320):
        small = MultiTaskStudent(size, width=0.25).eval()
        with torch.no_grad():
            g = small(torch.zeros(1, 3, size, size))
        assert g.f_s.shape[-1] == g.f_g.shape[-1] == g.f_l.shape[-1] == size // 4 and g.f_q.shape[-2:] == (1, 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        MultiTaskStudent(200)
    with pytest.raises(ValueError, match="built for 64"):
        small_64 = MultiTaskStudent(64, width=0.25)
        small_64(torch.zeros(1, 3, 128, 128))
    single = MultiTaskStudent(64, width=0.25, sencoder2="single")
    assert single(torch.zeros(1, 3, 64, 64)).f_h.shape == (1, 128, 4, 4)


def test_table5_counts_are_measured():
    from adlib.methods.efficientad.cost import model_cost

    mhkd, ead = model_cost("mhkd"), model_cost("efficientad")
    parts = {k: round(v / 1e6, 2) for k, v in mhkd["parts"].items()}
    assert parts == {"teacher": 8.03, "student.sencoder1": 3.99, "student.sencoder2": 7.34, "student.ldecoder": 6.9,
                     "student.gdecoder": 11.08}
    assert round(mhkd["params_m"], 2) == 37.34 and abs(mhkd["gflops"] - 236) / 236 < 0.01
    assert round(ead["params_m"], 2) == 20.74 and abs(ead["gflops"] - 235) / 235 < 0.01  # EfficientAD-M


def started(tmp_path, **config):
    """MHKD built, statistics computed and calibrated on a tiny widget category (64 px)."""
    from adlib.data.mvtec import MVTecAD
    from adlib.engine import FitContext

    from conftest import make_mvtec_category

    make_mvtec_category(tmp_path, size=64, n_train=6)
    torch.manual_seed(0)
    m = methods.build("mhkd", **{**LITE, **config})
    data = m.prepare_data(MVTecAD(tmp_path, "widget", "train", image_size=64))
    ctx = FitContext(torch.device("cpu"), None, False, 1, 1, 3, data.train, None, None, data.calibration)
    m.on_fit_start(ctx)
    m.on_fit_end(ctx)
    return m.train()


def _grads(m, term: str) -> dict[str, bool]:
    m.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    m.training_step({"image": torch.randn(2, 3, 64, 64)})[term].backward()
    blocks = ("sencoder1", "sencoder2", "ldecoder", "gdecoder")
    return {b: any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(m.student, b).parameters())
            for b in blocks}


def test_loss_routing_and_the_detach_switch(tmp_path):
    m = started(tmp_path)
    assert _grads(m, "L_SG") == {"sencoder1": True, "sencoder2": True, "ldecoder": False, "gdecoder": True}
    assert not _grads(m, "L_L")["gdecoder"] and not _grads(m, "L_G")["ldecoder"]
    assert _grads(m, "L_L")["sencoder1"] and _grads(m, "L_G")["sencoder1"]  # the shared encoder learns from both
    with m.override_config(sd_detach=True):  # the paper's wording: GDecoder supervises SEncoder1
        assert _grads(m, "L_SG") == {"sencoder1": True, "sencoder2": False, "ldecoder": False, "gdecoder": False}
    assert all(p.grad is None for p in m.teacher.parameters()) and not m.teacher.training
    opt = m.configure_optimizer(total_steps=10)["optimizer"]
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_opt == {id(p) for p in m.student.parameters()}


def test_loss_weights_and_table4_switches(tmp_path):
    m = started(tmp_path)
    assert (m.config.alpha, m.config.beta, m.config.gamma) == (1.0, 1.0, 2.0)  # the code's values
    torch.manual_seed(1)
    b = {"image": torch.randn(2, 3, 64, 64)}
    m.eval()  # dropout off: the terms are comparable across configs
    t = m.training_step(b)
    assert set(t) == {"L_L", "L_G", "L_SG", "loss"}
    torch.testing.assert_close(t["loss"], t["L_L"] + t["L_G"] + 2 * t["L_SG"])
    with m.override_config(alpha=0.5, beta=2.0, gamma=4.0):
        t2 = m.training_step(b)
        torch.testing.assert_close(t2["loss"], 0.5 * t2["L_L"] + 2 * t2["L_G"] + 4 * t2["L_SG"])
    with m.override_config(self_distill=False):
        assert m.loss_weights() == (1.0, 1.0, 0.0) and m.part_maps()["logical"] == "logical_teacher"
        t3 = m.training_step(b)
        torch.testing.assert_close(t3["loss"], t3["L_L"] + t3["L_G"])
        raw = m.raw_maps(b["image"])
        f = m.student(b["image"])
        torch.testing.assert_close(raw["logical_teacher"],
                                   ((m.teacher_features(b["image"]) - f.f_g) ** 2).mean(1, keepdim=True))
    cfg = methods.method_class("mhkd").canonical_config({"self_distill": False, "gamma": 0.5, "sencoder2": "single"})
    assert cfg == {"self_distill": False, "sencoder2": "single"}


def test_named_parts_map_of_eq9_and_variants(tmp_path):
    m = started(tmp_path).eval()
    x = torch.randn(2, 3, 64, 64)
    b = {"image": x, "orig_size": torch.tensor([[64, 64], [64, 64]])}
    pred = m.predict(b)
    assert set(pred.parts) == {"structural", "logical"}
    raw = m.raw_maps(x)
    f = m.student(x)
    torch.testing.assert_close(raw["logical_self"], ((f.f_g - f.f_l) ** 2).mean(1, keepdim=True))
    phi_s, phi_g = m.normalizers["structural"](raw["structural"]), m.normalizers["logical_self"](raw["logical_self"])
    expect = to_image(phi_s, (64, 64), True, 2.0, b["orig_size"]) + to_image(phi_g, (64, 64), True, 2.0, b["orig_size"])
    torch.testing.assert_close(pred.maps, expect)  # Eq. 9: G(up φA_s) + G(up φA_g), σ = 2 original px
    torch.testing.assert_close(pred.scores, pred.maps.flatten(1).amax(1))
    variants = m.evaluation_variants()
    assert set(variants) == {"structural_only", "logical_only", "code_score", "logical_vs_teacher"}
    with m.override_config(**variants["code_score"]):
        code = m.predict(b)
        torch.testing.assert_close(code.maps, pred.maps)
        torch.testing.assert_close(code.scores, to_image(0.5 * phi_s + 0.5 * phi_g, (64, 64), True).flatten(1).amax(1))
    with m.override_config(**variants["logical_vs_teacher"]):
        phi_t = m.normalizers["logical_teacher"](raw["logical_teacher"])
        torch.testing.assert_close(m.predict(b).parts["logical"], to_image(phi_t, (64, 64), True, 2.0, b["orig_size"]))


def test_loco_protocol_end_to_end_and_nested_report(tmp_path):
    """Tray at 64 px, 3 steps: sPRO logical / structural / mean at five FPR limits, LOCO image AUROC, the
    variants, the calibration record, and the report's rows for nested values (spro.mean.0.05)."""
    from adlib.data.synthetic import generate
    from adlib.experiment import run_experiment
    from adlib.reproduce.report import build_report

    generate(tmp_path / "mvtec_loco", categories="tray", image_size=64, n_train=6, n_test_good=3, n_test_defect=1,
             n_validation=3, progress=False)
    cfg = {"paper": "mhkd", "table": "I", "method": {"name": "mhkd"}, "grid": {"method": ["efficientad", "mhkd"]},
           "profiles": {"tiny": {"extends": None, "data": {"dataset": "mvtec_loco", "categories": ["tray"],
                                                            "image_size": 64, "root": str(tmp_path)},
                                 "method": LITE, "fit": {"steps": 3, "batch_size": 4}}},
           "seeds": [0], "metrics": ["spro.mean.0.05", "spro.logical.0.05", "loco_image_auroc.mean"]}
    from adlib.reproduce import run_grid

    status = run_grid(cfg, "tiny", tmp_path / "runs", progress=False)
    assert [s["status"] for s in status] == ["done", "done"], status
    res = json.loads(next((tmp_path / "runs").rglob("mhkd__*/seed0/results.json")).read_text())
    spro = res["metrics"]["spro"]["value"]
    assert set(spro) == {"logical", "structural", "mean"} and set(spro["mean"]) == {"0.01", "0.05", "0.1", "0.3", "1.0"}
    assert set(res["metrics"]["loco_image_auroc"]["value"]) == {"logical", "structural", "mean"}
    assert set(res["extra"]["variants"]) == {"structural_only", "logical_only", "code_score", "logical_vs_teacher"}
    assert res["extra"]["calibration"]["source"].startswith("the dataset's validation split")
    assert res["extra"]["calibration"]["n"] == 3 and res["weights"]["name"] == "extractor:efficientnet_lite0"
    rep = build_report([cfg], tmp_path / "runs", "tiny")
    rows = {(r["setting"], r["metric"]): r for r in rep["tables"][0]["rows"]}
    assert rows[("mhkd", "spro.mean.0.05")]["ours_mean"] == pytest.approx(100 * spro["mean"]["0.05"])
    assert rows[("mhkd", "spro.mean.0.05")]["paper"] is None  # tray is a proxy: the paper's number is LOCO's
    assert rows[("efficientad", "loco_image_auroc.mean")]["n"] == 1
