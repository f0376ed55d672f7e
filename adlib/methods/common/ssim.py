"""Per-channel structural similarity (Wang et al. 2004; DAF Eq. 2, its code's ``pytorch_msssim``).

SSIM(p, q) = (2 μ_p μ_q + C1)(2 σ_pq + C2) / ((μ_p² + μ_q² + C1)(σ_p² + σ_q² + C2)), with local
statistics from a normalised Gaussian window (separable, depthwise: one map per channel), applied
as a **valid** convolution: a caller pads the maps first (DAF: reflect by window // 2, so the
output has the unpadded size). Variances are E[x²] − E[x]², as in ``pytorch_msssim``; that
cancels badly in bf16, so everything runs in float32 with autocast off.
C1 = (K1·L)², C2 = (K2·L)² with data range L (DAF: K = (0.01, 0.03), L = 1 → 1e-4, 9e-4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .maps import gaussian_window


def _filter(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Valid separable depthwise filtering of B×C×H×W maps with 1-D ``taps``."""
    c, k = x.shape[1], taps.numel()
    x = F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
             k: tuple[float, float] = (0.01, 0.03), data_range: float = 1.0) -> torch.Tensor:
    """SSIM per channel and position of two B×C×H×W maps (float32): B×C×(H − window + 1)×(W − window + 1)."""
    if x.shape != y.shape:
        raise ValueError(f"SSIM needs maps of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise ValueError(f"SSIM window {window} is larger than the (padded) map {tuple(x.shape[-2:])}")
    c1, c2 = (k[0] * data_range) ** 2, (k[1] * data_range) ** 2
    with torch.autocast(x.device.type, enabled=False):
        x, y = x.float(), y.float()
        taps = gaussian_window(window, sigma, device=x.device)
        mu_x, mu_y = _filter(x, taps), _filter(y, taps)
        var_x = _filter(x * x, taps) - mu_x ** 2
        var_y = _filter(y * y, taps) - mu_y ** 2
        cov = _filter(x * y, taps) - mu_x * mu_y
        luminance = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
        return luminance * (2 * cov + c2) / (var_x + var_y + c2)
