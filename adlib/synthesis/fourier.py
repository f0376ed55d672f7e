"""Fourier amplitude mixing (FDA, Yang & Soatto, CVPR 2020), as DM-GRD uses it (Tran et al., ACCV
2024, §4.1 Eqs. 2–4; ``data/FDA.py``).

Per channel: the 2-D FFT of the source gives amplitude A and phase P. In the centred
low-frequency window (rows ⌊H/2⌋ − b … ⌊H/2⌋ + b and columns ⌊W/2⌋ − b … ⌊W/2⌋ + b, inclusive;
b = ⌊``window``·min(H, W)⌋, so 51×51 at 256 px: Eq. 3 with its "+1") A becomes
(1 − w)·A + w·A_target (Eq. 2); the rest of A and the whole phase stay, and the real part of the
inverse FFT is the mixed image F_M (Eq. 4; the code uses e^{+jP}: the paper's e^{−jP} would mirror
the image). No clipping: F_M can leave [0, 255].
"""

from __future__ import annotations

import numpy as np


def window_slices(shape, window: float = 0.1) -> tuple[slice, slice]:
    """The centred low-frequency window (rows, cols) of an fftshift-ed H×W spectrum (Eq. 3)."""
    h, w = int(shape[0]), int(shape[1])
    b = int(np.floor(min(h, w) * window))
    ch, cw = h // 2, w // 2
    return slice(ch - b, ch + b + 1), slice(cw - b, cw + b + 1)


def amplitude_mix(src: np.ndarray, tgt: np.ndarray, weight: float, window: float = 0.1) -> np.ndarray:
    """F_M (H×W×C float64, source units, unclipped): ``src``'s phase with its low-frequency amplitude
    mixed towards ``tgt``'s by ``weight`` (0: the source back; 1: the target's amplitude)."""
    src = np.asarray(src, np.float64)
    tgt = np.asarray(tgt, np.float64)
    if src.shape != tgt.shape:
        raise ValueError(f"source {src.shape} and target {tgt.shape} must have the same shape")
    fs = np.fft.fft2(src, axes=(0, 1))
    amp, phase = np.abs(fs), np.angle(fs)
    amp_t = np.fft.fftshift(np.abs(np.fft.fft2(tgt, axes=(0, 1))), axes=(0, 1))
    amp = np.fft.fftshift(amp, axes=(0, 1))
    rows, cols = window_slices(src.shape, window)
    amp[rows, cols] = (1.0 - weight) * amp[rows, cols] + weight * amp_t[rows, cols]
    amp = np.fft.ifftshift(amp, axes=(0, 1))
    return np.real(np.fft.ifft2(amp * np.exp(1j * phase), axes=(0, 1)))
