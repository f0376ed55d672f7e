"""Reverse Distillation pieces: shapes, parameter counts, loss, anomaly map, variance loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from adlib.methods.rd import OCBE, MirroredDecoder, anomaly_map, gaussian_blur, rd_loss
from adlib.methods.rd_var import variance_loss


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_wrn50_bottleneck_and_decoder_match_the_authors_shapes_and_sizes():
    ocbe = OCBE((256, 512, 1024), "bottleneck", 3, 128, with_unused_conv=True)
    dec = MirroredDecoder((256, 512, 1024), 2048, "bottleneck", (3, 4, 6), 128)
    # parameter counts of the RD4AD code (methods.md §1.1: 67.28 M incl. 8.39 M unused, 24.92 M)
    assert count(ocbe) == 67_277_824 and count(dec) == 24_917_504
    assert count(ocbe.unused) == 8_392_704
    feats = [torch.randn(1, 256, 32, 32), torch.randn(1, 512, 16, 16), torch.randn(1, 1024, 8, 8)]
    with torch.no_grad():
        z = ocbe(feats)
        out = dec(z)
    assert z.shape == (1, 2048, 4, 4)
    assert [tuple(o.shape) for o in out] == [(1, 256, 32, 32), (1, 512, 16, 16), (1, 1024, 8, 8)]


@pytest.mark.parametrize("channels", [(64, 128, 256), (24, 40, 112), (16, 24, 48)])
def test_generic_mirrored_decoder_for_any_teacher(channels):
    ocbe = OCBE(channels, "basic", 2)
    dec = MirroredDecoder(channels, ocbe.out_channels, "basic", (2, 2, 2))
    feats = [torch.randn(2, c, 32 // 2 ** i, 32 // 2 ** i) for i, c in enumerate(channels)]
    out = dec(ocbe(feats))
    assert [o.shape for o in out] == [f.shape for f in feats]
    assert ocbe.out_channels == 2 * channels[2]
    with pytest.raises(ValueError, match="divisible"):
        MirroredDecoder((24, 40, 110), 220, "bottleneck", (1, 1, 1))


def test_rd_loss_hand_computed():
    t = [torch.tensor([[[[1.0]], [[0.0]]]]), torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])]  # B=1
    s = [torch.tensor([[[[0.0]], [[1.0]]]]), torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])]
    # level 1: orthogonal → 1; level 2 flattened: t=(1,1,0,0), s=(1,0,0,1) → cos 1/2 → 0.5
    assert rd_loss(t, s, "flatten").item() == pytest.approx(1.5)
    # per pixel level 2: position 0 identical (0), position 1: (1,0) vs (0,1) → 1; mean 0.5
    assert rd_loss(t, s, "per_pixel").item() == pytest.approx(1.5)
    t2 = [torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])]
    s2 = [torch.tensor([[[[2.0, 0.1]], [[0.0, 0.0]]]])]  # same direction at every pixel, not globally
    assert rd_loss(t2, s2, "per_pixel").item() == pytest.approx(0.0, abs=1e-6)
    assert rd_loss(t2, s2, "flatten").item() > 0.1
    assert rd_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        rd_loss(t, s, "median")


@pytest.mark.parametrize("size", [(5, 7), (20, 37), (64, 64)])
def test_gaussian_blur_equals_scipy(size):
    x = np.random.default_rng(0).random((1, 1, *size))
    ours = gaussian_blur(torch.from_numpy(x), 4.0).numpy()[0, 0]
    np.testing.assert_allclose(ours, gaussian_filter(x[0, 0], 4), atol=1e-12)


def test_anomaly_map_sum_of_levels_then_blur():
    torch.manual_seed(0)
    t = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    s = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    amap, levels = anomaly_map(t, s, (16, 16), "add", 4.0)
    by_hand = sum(F.interpolate((1 - F.cosine_similarity(a, b, dim=1)).unsqueeze(1), size=(16, 16),
                                mode="bilinear", align_corners=True) for a, b in zip(t, s))
    torch.testing.assert_close(levels[0] + levels[1], by_hand)
    ref = np.stack([gaussian_filter(by_hand[i, 0].numpy().astype(np.float64), 4) for i in range(2)])
    np.testing.assert_allclose(amap[:, 0].numpy(), ref, atol=1e-5)
    mul, _ = anomaly_map(t, s, (16, 16), "mul", 0.0)
    torch.testing.assert_close(mul, levels[0] * levels[1])
    same, _ = anomaly_map(t, t, (16, 16))
    assert same.abs().max() < 1e-5


def test_variance_loss_zero_for_identical_and_grows_with_spread():
    base = torch.randn(1, 8, 4, 4)
    assert variance_loss(base.repeat(5, 1, 1, 1)).item() == pytest.approx(0.0, abs=1e-6)
    losses = []
    for spread in (0.1, 0.5, 1.0, 3.0):
        g = torch.Generator().manual_seed(0)
        feats = base + spread * torch.randn(16, 8, 4, 4, generator=g)
        losses.append(variance_loss(feats).item())
    assert all(a < b for a, b in zip(losses, losses[1:]))
    for d in ("l1", "l2"):
        assert variance_loss(base.repeat(3, 1, 1, 1), d).item() == pytest.approx(0.0, abs=1e-7)
        assert variance_loss(base + torch.randn(4, 8, 4, 4), d).item() > 0
    with pytest.raises(ValueError):
        variance_loss(base, "kl")


def test_variance_loss_matches_equations():
    f = torch.randn(4, 3, 2, 2)
    flat = f.flatten(1).numpy().astype(np.float64)
    mean = flat.mean(0)
    cos = flat @ mean / (np.linalg.norm(flat, axis=1) * np.linalg.norm(mean))
    assert variance_loss(f).item() == pytest.approx(np.mean(1 - cos), rel=1e-5)
    f.requires_grad_(True)
    variance_loss(f).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
