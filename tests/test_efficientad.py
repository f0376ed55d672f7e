"""EfficientAD (issue 19 point 1), aimed at the likely mistakes: PDN shapes and padding, loading the public
PDN files by layer order with their sha256, the hard-feature quantile, teacher statistics, map quantiles on a
held-out calibration split that training never sees, and the upsample-then-smooth order of the map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from adlib import methods
from adlib.backbones import WeightsMismatchError, build_backbone, file_sha256
from adlib.backbones.pdn import PDN, receptive_field
from adlib.methods.efficientad import (EfficientAD, MapNormalizer, exact_quantile, hard_mining_loss,
                                       teacher_channel_stats, to_image)
from conftest import make_mvtec_category

LITE = {"teacher": "extractor:efficientnet_lite0", "width": 0.25}


@pytest.mark.parametrize("size,params", [("small", 2.69e6), ("medium", 8.03e6)])
def test_pdn_shapes_padding_and_receptive_field(size, params):
    pdn = PDN(size)
    assert abs(sum(p.numel() for p in pdn.parameters()) - params) < 0.01e6
    x = torch.zeros(1, 3, 256, 256)
    assert pdn(x).shape == (1, 384, 64, 64) and pdn.set_padding(False)(x).shape == (1, 384, 56, 56)
    for s in (128, 192, 320):
        assert pdn.set_padding(True)(torch.zeros(1, 3, s, s)).shape[-1] == s // 4
    assert receptive_field(pdn.set_padding(False), 96) == (33, 33)
    keys = [k for k in pdn.state_dict() if k.endswith("weight")]
    assert keys == ([f"{i}.weight" for i in (0, 3, 6, 8)] if size == "small" else
                    [f"{i}.weight" for i in (0, 3, 6, 8, 10, 12)])  # nelson1425's nn.Sequential layout


def test_public_pdn_files_load_by_layer_order_with_their_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    torch.manual_seed(0)
    ref = PDN("medium").state_dict()
    nelson = tmp_path / "teacher_medium.pth"
    torch.save(ref, nelson)
    convs = [k for k in ref if k.endswith("weight")]
    anomalib = tmp_path / "pretrained_teacher_medium.pth"  # anomalib's conv1..conv6 names: mapped by order
    torch.save({f"conv{i + 1}.{p}": ref[k.replace("weight", p)] for i, k in enumerate(convs) for p in ("weight", "bias")},
               anomalib)
    for path in (nelson, anomalib):
        with pytest.warns(UserWarning, match="no sha256 prefix"):
            t = build_backbone("pdn_medium", weights=path)
        assert all(torch.equal(t.body.state_dict()[k], v) for k, v in ref.items())
        assert t.weights_sha256 == file_sha256(path) and t.frozen
    small = tmp_path / "teacher_small.pth"
    torch.save(PDN("small").state_dict(), small)
    with pytest.warns(UserWarning), pytest.raises(WeightsMismatchError):
        build_backbone("pdn_medium", weights=small)
    import adlib.backbones.pdn as pdn_mod

    monkeypatch.setitem(pdn_mod.KNOWN_PDN_FILES, file_sha256(nelson), "nelson1425 teacher_medium.pth")
    with pytest.warns(UserWarning):
        m = methods.build("efficientad", weights=str(nelson))
    info = m.weights_info()
    assert info["sha256"] == file_sha256(nelson) and info["known_as"] == "nelson1425 teacher_medium.pth"
    assert info["padding"] is False and m.teacher.body.padding is False and info["paper_teacher"] is False
    assert m.pretrained_prefixes() == ("teacher.",) and not any(k.startswith("teacher.") for k in m.checkpoint_state())


def test_exact_quantile_and_hard_feature_loss():
    g = torch.Generator().manual_seed(0)
    d = torch.rand(2, 384, 8, 8, generator=g) ** 3
    for q in (0.0, 0.5, 0.9, 0.995, 0.999, 1.0):
        torch.testing.assert_close(exact_quantile(d, q), torch.quantile(d.flatten(), q))
    hard = d[d >= torch.quantile(d.flatten(), 0.999)].mean()
    torch.testing.assert_close(hard_mining_loss(d, 0.999), hard)
    assert (d >= torch.quantile(d.flatten(), 0.999)).sum() == 50  # 0.1 % of 49 152 elements, not a per-image count
    big = torch.rand(2 ** 24 + 5, generator=g)  # older torch.quantile refuses more than 2^24 elements
    assert abs(float(exact_quantile(big, 0.999)) - 0.999) < 1e-3 and torch.isfinite(hard_mining_loss(big))


def test_teacher_statistics_weight_every_image_equally():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(7, 5, 4, 4, generator=g) * torch.arange(1, 6).view(1, 5, 1, 1) + 3
    mu, sigma = teacher_channel_stats(lambda: [feats[:3], feats[3:4], feats[4:]])  # uneven batches
    torch.testing.assert_close(mu.flatten(), feats.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(sigma.flatten(), feats.transpose(0, 1).reshape(5, -1).std(dim=1, unbiased=False))


def test_map_normaliser_is_global_over_pixels():
    g = torch.Generator().manual_seed(2)
    maps = torch.rand(6, 1, 8, 8, generator=g) * torch.arange(1, 7).view(6, 1, 1, 1)  # images on different scales
    norm = MapNormalizer().fit(maps)
    phi = norm(maps)
    assert abs(float((phi > 0).float().mean()) - 0.1) < 0.01 and abs(float((phi > 0.1).float().mean()) - 0.005) < 0.004
    torch.testing.assert_close(norm.q_a, torch.quantile(maps.flatten(), 0.9))
    per_image = torch.stack([torch.quantile(m.flatten(), 0.9) for m in maps]).mean()
    assert not torch.isclose(norm.q_a, per_image)


def _fit(name, root, steps=2, **config):
    from adlib.data.mvtec import MVTecAD
    from adlib.engine import fit

    torch.manual_seed(0)
    m = methods.build(name, **{**LITE, **config})
    train = MVTecAD(root, "widget", "train", image_size=64, normalize=m.input_spec)
    data = m.prepare_data(train, seed=0)
    seen = []
    step = m.training_step
    m.training_step = lambda b: (seen.extend(b["path"]), step(b))[1]
    res = fit(m, data.train, steps=steps, batch_size=4, calibration_data=data.calibration, progress=False,
              device="cpu")
    del m.training_step  # the spy
    return m, train, data, seen, res


def test_calibration_split_is_held_out_and_quantiles_come_from_it(tmp_path):
    make_mvtec_category(tmp_path, size=64, n_train=12)
    m, train, data, seen, _ = _fit("efficientad", tmp_path, steps=3)
    keep, held = torch.utils.data.random_split(range(12), [int(0.9 * 12), 12 - int(0.9 * 12)],
                                               torch.Generator().manual_seed(42))
    cal_paths = {str(r.image_path) for r in data.calibration.records}
    assert cal_paths == {str(train.records[i].image_path) for i in held.indices} and len(data.train) == 10
    seen = {str(p) for p in seen}
    assert seen == {str(r.image_path) for r in data.train.records}  # every training image was drawn ...
    assert not cal_paths & seen  # ... and no calibration image
    assert m.calibration_record["n"] == 2 and "held out" in m.calibration_record["source"]
    m.eval()
    from adlib.methods.efficientad.model import images

    raw = [m.raw_maps(x) for x in images(data.calibration, 4, "cpu")]
    for k in ("structural", "logical"):
        maps = torch.cat([r[k] for r in raw])
        torch.testing.assert_close(m.normalizers[k].q_a, exact_quantile(maps, 0.9))
        torch.testing.assert_close(m.normalizers[k].q_b, exact_quantile(maps, 0.995))
    b = {"image": next(images(data.train, 3, "cpu"))}
    torch.testing.assert_close(m.predict(b).maps, m.predict(b).maps)  # eval mode: dropout off


def test_loco_calibration_is_the_validation_split(tmp_path):
    from adlib.data.loco import MVTecLOCO
    from adlib.data.synthetic import generate

    generate(tmp_path, categories="tray", image_size=32, n_train=4, n_test_good=1, n_test_defect=1, n_validation=3,
             progress=False)
    data = methods.build("mhkd", **LITE).prepare_data(MVTecLOCO(tmp_path, "tray", "train", image_size=32))
    assert len(data.train) == 4 and len(data.calibration) == 3
    assert all(r.image_path.parent.parts[-2:] == ("validation", "good") for r in data.calibration.records)
    with pytest.raises(ValueError, match="no validation split"):
        methods.build("mhkd", calibration="validation", **LITE).prepare_data(
            MVTecLOCO(tmp_path, "tray", "test", image_size=32))


def test_predict_before_calibration_raises_and_training_terms(tmp_path):
    make_mvtec_category(tmp_path, size=64, n_train=4)
    m = methods.build("efficientad", **LITE)
    with pytest.raises(RuntimeError, match="statistics"):
        m.training_step({"image": torch.zeros(1, 3, 256, 256)})
    m, *_ = _fit("efficientad", tmp_path, steps=1, penalty="generic")
    assert m.config.image_size == 64 and m.autoencoder.out_size == 16  # rebuilt for the data; padded grid S/4
    terms = m.train().training_step({"image": torch.randn(2, 3, 64, 64)})
    assert set(terms) == {"st", "penalty", "ae", "stae", "loss"}
    torch.testing.assert_close(terms["loss"], terms["st"] + terms["penalty"] + terms["ae"] + terms["stae"])
    fresh = methods.build("efficientad", **LITE)
    fresh.teacher_mean.zero_()
    fresh.teacher_std.fill_(1)
    with pytest.raises(RuntimeError, match="not calibrated"):
        fresh.predict({"image": torch.zeros(1, 3, 256, 256)})
    sched = m.configure_optimizer(total_steps=100)["scheduler"]
    assert sched.step_size == 95 and sched.gamma == 0.1


def test_map_is_upsampled_then_smoothed_per_axis():
    g = torch.Generator().manual_seed(3)
    phi = torch.rand(2, 1, 8, 8, generator=g)
    out = to_image(phi, (32, 32), padded=True, sigma=2.0, orig_size=torch.tensor([[64, 64], [64, 128]]))
    up = F.interpolate(phi, size=(32, 32), mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(out[0, 0].numpy(), gaussian_filter(up[0, 0], 1.0, mode="reflect"), atol=1e-5)
    np.testing.assert_allclose(out[1, 0].numpy(), gaussian_filter(up[1, 0], (1.0, 0.5), mode="reflect"), atol=1e-5)
    smoothed_first = F.interpolate(torch.from_numpy(gaussian_filter(phi.numpy(), (0, 0, 0.25, 0.25), mode="reflect")),
                                   size=(32, 32), mode="bilinear", align_corners=False)
    assert not torch.allclose(out[:1], smoothed_first[:1], atol=1e-3)  # the order matters
    unpadded = to_image(phi, (32, 32), padded=False)  # a 56² grid: 4 px of zeros, then the upsampling
    torch.testing.assert_close(unpadded, F.interpolate(F.pad(phi, (4,) * 4), size=(32, 32), mode="bilinear",
                                                       align_corners=False))


def test_variants_and_parts(tmp_path):
    make_mvtec_category(tmp_path, size=64, n_train=4)
    m, *_ = _fit("efficientad", tmp_path, steps=1)
    m.eval()
    b = {"image": torch.randn(2, 3, 64, 64)}
    pred = m.predict(b)
    assert set(pred.parts) == {"structural", "logical"}
    torch.testing.assert_close(pred.maps, 0.5 * pred.parts["structural"] + 0.5 * pred.parts["logical"])
    for name, overrides in m.evaluation_variants().items():
        with m.override_config(**overrides):
            torch.testing.assert_close(m.predict(b).maps, pred.parts[overrides["score_map"]])
    assert isinstance(m, EfficientAD)
