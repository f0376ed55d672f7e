"""The CUDA paths (bf16 autocast, channels-last, device caches, DataLoader workers): skipped without a GPU.

Each test compares the GPU against the CPU fp32 reference the rest of the suite checks, so a wrong
device transfer, layout or precision shows up as a disagreement, not just as a crash.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adlib.data.mvtec import MVTecAD
from adlib.data.synthetic import generate
from adlib.engine import evaluate_method, fit
from adlib.metrics import evaluate
from adlib.methods import build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("ADLIB_OFFLINE", "1")


@pytest.fixture(scope="module")
def weave(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    generate(root, categories="weave", image_size=64, n_train=40, n_test_good=10, n_test_defect=6, progress=False)
    return MVTecAD(root, "weave", "train", image_size=64, cache=True), MVTecAD(root, "weave", "test", image_size=64)


def test_metrics_on_gpu_equal_cpu():
    g = torch.Generator().manual_seed(0)
    n, h = 24, 64
    masks = torch.zeros(n, h, h)
    for i in range(0, n, 3):
        masks[i, 10 + i: 20 + i, 5:25] = 1
    maps = torch.rand(n, h, h, generator=g) + 0.8 * masks
    labels = (masks.flatten(1).amax(1) > 0).long()
    scores = maps.flatten(1).amax(1)
    cpu = evaluate(maps, scores, labels, masks, device="cpu")
    gpu = evaluate(maps.cuda(), scores.cuda(), labels.cuda(), masks.cuda(), device="cuda")
    for k in cpu:
        assert gpu[k].value == pytest.approx(cpu[k].value, abs=1e-6), k


def test_rd_trains_in_bf16_and_agrees_with_fp32(weave):
    train, test = weave
    torch.manual_seed(0)
    m = build("rd", backbone="efficientnet_lite0")
    res = fit(m, train, epochs=8, batch_size=8, seed=0, progress=False, on_gpu_cache=True)
    assert (res.device, res.amp, res.channels_last) == ("cuda", "bf16", True)
    kd = res.losses("kd")
    assert sum(kd[-5:]) / 5 < 0.7 * sum(kd[:5]) / 5
    gpu = evaluate_method(m, test, batch_size=16, progress=False, return_maps=True)  # bf16, channels-last
    cpu = evaluate_method(m, test, batch_size=16, progress=False, return_maps=True, device="cpu")  # fp32
    assert gpu.maps.device.type == "cuda"  # maps stay where they were computed
    assert np.corrcoef(gpu.scores.numpy(), cpu.scores.numpy())[0, 1] > 0.98
    assert np.corrcoef(gpu.maps.cpu().ravel().numpy(), cpu.maps.ravel().numpy())[0, 1] > 0.98
    for k in ("image_auroc", "pixel_auroc"):
        assert abs(gpu[k] - cpu[k]) < 0.05, (k, gpu[k], cpu[k])


def test_first_steps_match_cpu_in_fp32(weave):
    """Same seed, fp32 on both devices (``amp=False``): the loss curves start the same."""
    train, _ = weave
    curves = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        m = build("rd", backbone="efficientnet_lite0")
        res = fit(m, train, steps=5, batch_size=8, seed=0, progress=False, device=device, amp=False)
        curves.append(res.losses("kd"))
    # cuDNN convolutions run in TF32 by default (10-bit mantissa): on an H100 the curves were 0.4 % apart
    # by step 4 (2026-11-22); a wrong layout, transfer or seed gives tens of percent
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-2)


def test_mrkd_run_experiment_with_workers_on_gpu(tmp_path, monkeypatch):
    """NSA synthesis in DataLoader workers feeding the GPU (run_experiment adds them on CUDA)."""
    from adlib.engine import read_results
    from adlib.experiment import run_experiment

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    res = run_experiment("mrkd", {"backbone": "efficientnet_lite0"}, paper="mrkd", dataset="synthetic",
                         category="weave", image_size=64, steps=12, batch_size=8, output_dir=tmp_path / "runs",
                         progress=False)
    assert res["env"]["device"].startswith("cuda") and res["protocol"]["amp"] == "bf16"
    assert res["extra"]["variants"] and all(0 <= v <= 1 for v in res["metrics"].values() if isinstance(v, float))
    assert res["protocol"]["training"]["on_gpu_cache"] is False  # NSA needs the CPU workers
    saved = read_results(next((tmp_path / "runs").rglob("results.json")))  # validates the schema
    assert saved["metrics"]["image_auroc"]["value"] == res["metrics"]["image_auroc"]["value"]
    rd = run_experiment("rd", {"backbone": "efficientnet_lite0"}, paper="rd", dataset="synthetic", category="weave",
                        image_size=64, steps=6, batch_size=8, progress=False)
    assert rd["protocol"]["training"]["on_gpu_cache"] is True  # plain images: the uint8 set lives on the GPU


def test_daf_losses_and_maps_are_float32_under_cuda_autocast():
    """CUDA autocast refuses binary_cross_entropy on bf16 inputs and bf16 SSIM cancels: DAF computes its
    losses (Eqs. 1-4, 7) and maps in float32, with the networks in bf16."""
    from adlib.methods.daf import balanced_bce

    torch.manual_seed(0)
    m = build("daf", backbone="efficientnet_lite0", weights="random").cuda()
    g = torch.Generator().manual_seed(0)
    b = {"image": torch.randn(2, 3, 64, 64, generator=g).cuda(), "aug_image": torch.randn(2, 3, 64, 64, generator=g).cuda(),
         "aug_mask": (torch.rand(2, 1, 64, 64, generator=g) < 0.2).float().cuda()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        terms = m.train().training_step(b)
        terms["loss"].backward()
        pred = m.eval().predict({"image": b["image"]})
        bce = balanced_bce(torch.rand(2, 1, 8, 8, device="cuda").bfloat16(), b["aug_mask"][:, :, :8, :8].bfloat16())
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in terms.values()), terms
    assert bce.dtype == torch.float32 and pred.maps.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in pred.parts.values())


@pytest.mark.parametrize("name", ["efficientad", "mhkd"])
def test_efficientad_and_mhkd_fit_in_bf16_channels_last(weave, name):
    """Teacher statistics, quantiles, mining and maps in float32 while the networks run in bf16 channels-last."""
    train, test = weave
    torch.manual_seed(0)
    m = build(name, teacher="extractor:efficientnet_lite0", width=0.25)
    data = m.prepare_data(train)
    res = fit(m, data.train, steps=3, batch_size=8, calibration_data=data.calibration, device="cuda", amp="bf16",
              channels_last=True, progress=False)
    assert res.amp == "bf16" and res.channels_last and m.calibrated and m.teacher_std.dtype == torch.float32
    ev = evaluate_method(m, test, progress=False, amp="bf16", channels_last=True)
    assert torch.isfinite(ev.scores).all() and 0.0 <= ev["image_auroc"] <= 1.0
