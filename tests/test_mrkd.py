"""MRKD (adlib.methods.mrkd): FLM masks and generation modules, ILM wiring, test-time masking,
evaluation variants, and a short synthetic training."""

import json

import pytest
import torch

from adlib.methods import build
from adlib.methods.mrkd import MRKD, GenerationModule, flm_mask
from adlib.synthesis import SyntheticAnomalies


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("mrkd", backbone="efficientnet_lite0", weights="random")


def batch(b=2, size=64, seed=0, paths=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    return {"image": x, "path": paths or [f"img{i + seed * 10}.png" for i in range(b)]}


def test_flm_mask_ratio_and_channel_sharing():
    torch.manual_seed(0)
    for ratio in (0.0, 0.2, 0.5, 0.8):
        m = flm_mask((8, 1, 64, 64), ratio)
        assert m.shape == (8, 1, 64, 64) and set(m.unique().tolist()) <= {0.0, 1.0}
        assert abs((1 - m).mean().item() - ratio) < 0.02
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(flm_mask((1, 1, 16, 16), 0.2, generator=g1), flm_mask((1, 1, 16, 16), 0.2, generator=g2))


def test_generation_modules_match_the_levels(model):
    assert [g.conv1.in_channels for g in model.generation] == list(model.teacher.channels)
    gm = GenerationModule(8)
    assert [type(m).__name__ for m in gm.children()] == ["Conv2d", "ReLU", "Conv2d"]
    assert gm.conv1.kernel_size == (3, 3) and gm.conv1.bias is not None
    # the optimizer covers the generation modules, never the teacher
    opt_params = {id(p) for g in model.configure_optimizer().param_groups for p in g["params"]}
    assert all(id(p) in opt_params for p in model.generation.parameters())
    assert not any(id(p) in opt_params for p in model.teacher.parameters())


def test_masking_is_shared_across_channels_in_training(model):
    seen = {}

    def hook(mod, inp, out):
        seen["x"] = inp[0].detach()

    h = model.generation[0].register_forward_hook(hook)
    try:
        model.train()
        model.training_step(batch())
    finally:
        h.remove()
    x = seen["x"]
    zero = (x == 0).all(dim=1)  # positions masked in every channel
    frac = zero.float().mean().item()
    # ~λ of the positions are zero in *every* channel (per-channel masks would give ~λ^C ≈ 0)
    assert 0.1 < frac < 0.3, f"~λ=0.2 of the positions are masked, got {frac:.3f}"


def test_ilm_feeds_the_synthetic_image_to_the_bottleneck(model):
    calls = []
    orig = model.teacher_features

    def spy(x):
        calls.append(x)
        return orig(x)

    model.teacher_features = spy
    try:
        b = batch()
        b["aug_image"] = b["image"] + 1.0
        model.train()
        terms = model.training_step(b)
    finally:
        del model.teacher_features
    assert len(calls) == 2 and torch.equal(calls[0], b["image"]) and torch.equal(calls[1], b["aug_image"])
    assert terms["loss"].requires_grad and set(terms) == {"kd", "loss"}


def test_test_time_masks_do_not_depend_on_the_batch(model):
    model.eval()
    b = batch(4, seed=1)
    maps_all, scores_all = model.predict(b)
    single = {k: (v[2:3] if torch.is_tensor(v) else v[2:3]) for k, v in b.items()}
    maps_one, scores_one = model.predict(single)
    torch.testing.assert_close(maps_one, maps_all[2:3], rtol=1e-4, atol=1e-5)
    again, _ = model.predict(b)
    assert torch.equal(again, maps_all)
    with model.override_config(flm_seed=1):
        other, _ = model.predict(b)
    assert not torch.allclose(other, maps_all)
    with model.override_config(flm_at_test=False):
        off1, _ = model.predict(b)
        off2, _ = model.predict(batch(4, seed=1, paths=[f"other{i}" for i in range(4)]))
    torch.testing.assert_close(off1, off2)  # no masking: the path no longer matters


def test_averaged_passes_are_the_mean_of_single_passes(model):
    model.eval()
    b = batch(2, seed=2)
    with model.override_config(flm_passes=3):
        avg, _ = model.forward_maps(b)
    x = b["image"]
    t = model.teacher_features(x)
    s = model.student_features(b, t)
    singles = [model.maps_from_features(t, model.transform_student(s, False, b, k), tuple(x.shape[-2:]))[0]
               for k in range(3)]
    torch.testing.assert_close(avg, torch.stack(singles).mean(0))
    with model.override_config(flm_passes=1):
        one, _ = model.forward_maps(b)
    torch.testing.assert_close(one, singles[0])


def test_score_levels_and_variants(model):
    model.eval()
    b = batch(2, seed=3)
    full, levels = model.forward_maps(b)
    with model.override_config(score_levels=(1,), sigma=0.0):
        only2, _ = model.forward_maps(b)
    torch.testing.assert_close(only2, levels[1])
    v = model.evaluation_variants()
    assert {"SM1", "SM2", "SM3", "SM1&2", "SM2&3", "flm_avg5", "flm_seed1", "flm_seed4"} <= set(v)
    assert v["SM2&3"] == {"score_levels": (1, 2)} and v["flm_avg5"] == {"flm_passes": 5}
    with model.override_config(eval_variants=False):
        assert model.evaluation_variants() == {}
    with pytest.raises(ValueError, match="score_levels"):
        with model.override_config(score_levels=(5,)):
            model.forward_maps(b)
    with pytest.raises(TypeError, match="unknown config"):
        with model.override_config(nonsense=1):
            pass


def test_ablation_switches():
    rd_like = build("mrkd", backbone="efficientnet_lite0", weights="random", ilm=False, flm=False)
    assert rd_like.generation is None and rd_like.evaluation_variants().keys() >= {"SM1"}
    assert "flm_avg5" not in rd_like.evaluation_variants()
    assert rd_like.prepare_data("TRAIN").train == "TRAIN"
    with pytest.raises(ValueError, match="alpha"):
        build("mrkd", backbone="efficientnet_lite0", weights="random", alpha=1.5)
    with pytest.raises(ValueError, match="flm_ratio"):
        build("mrkd", backbone="efficientnet_lite0", weights="random", flm_ratio=1.0)
    with pytest.raises(ValueError, match="variant"):
        build("mrkd", backbone="efficientnet_lite0", weights="random", nsa="cv2")


def test_short_training_on_synthetic_data(tmp_path):
    """MRKD's loss falls and its image AUROC is well above chance on a synthetic texture."""
    from adlib.experiment import run_experiment

    res = run_experiment("mrkd", {"backbone": "efficientnet_lite0"}, paper="mrkd", dataset="synthetic",
                         category="weave", image_size=64, epochs=6, batch_size=8, progress=False,
                         output_dir=tmp_path, tag="mrkd", return_objects=True)
    results, (model, fit_res, ev) = res
    losses = fit_res.history["loss"]
    k = max(len(losses) // 5, 1)
    assert sum(losses[-k:]) / k < 0.8 * sum(losses[:k]) / k
    assert results["metrics"]["image_auroc"]["value"] > 0.65
    assert results["metrics"]["pixel_auroc"]["value"] > 0.7
    variants = results["extra"]["variants"]
    assert set(variants) >= {"SM1", "SM2&3", "flm_avg5"}
    assert all(0 <= v["metrics"]["image_auroc"] <= 1 for v in variants.values())
    path = tmp_path / "mrkd" / "synthetic" / "weave" / "mrkd" / "seed0" / "results.json"
    saved = json.loads(path.read_text())
    assert saved["config"]["ilm"] is True and saved["weights"]["source"]
    assert isinstance(model, MRKD)


def test_prepare_data_wraps_with_nsa():
    from adlib.data.catalog import open_dataset

    m = build("mrkd", backbone="efficientnet_lite0", weights="random", alpha=0.5, nsa="paper")
    train = open_dataset("synthetic", "weave", "train", image_size=64)
    wrapped = m.prepare_data(train, category="weave", seed=1).train
    assert isinstance(wrapped, SyntheticAnomalies) and wrapped.probability == 0.5 and wrapped.needs_source
    assert len(wrapped) == len(train) and wrapped.keyed_draws
    s = wrapped[(0, 3)]
    assert s["aug_image"].shape == s["image"].shape


def test_test_time_masks_do_not_depend_on_the_data_folder(model):
    model.eval()
    rel = [f"test/crack/{i:03d}.png" for i in range(2)]
    a, _ = model.predict(batch(2, seed=4, paths=[f"/data/one/mtd/{p}" for p in rel]))
    b, _ = model.predict(batch(2, seed=4, paths=[f"/elsewhere/mtd/{p}" for p in rel]))
    assert torch.equal(a, b)
    with pytest.raises(KeyError, match="path"):
        model.predict({"image": torch.randn(1, 3, 64, 64)})
