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


def window_halfwidth(shape, window: float = 0.1) -> int:
    """b = ⌊``window``·min(H, W)⌋: the window spans signed frequencies −b … b on both axes (Eq. 3)."""
    return int(np.floor(min(int(shape[0]), int(shape[1])) * window))


def window_slices(shape, window: float = 0.1) -> tuple[slice, slice]:
    """The centred low-frequency window (rows, cols) of an fftshift-ed H×W spectrum (Eq. 3)."""
    h, w = int(shape[0]), int(shape[1])
    b = window_halfwidth(shape, window)
    ch, cw = h // 2, w // 2
    return slice(ch - b, ch + b + 1), slice(cw - b, cw + b + 1)


def amplitude_mix(src: np.ndarray, tgt: np.ndarray, weight: float, window: float = 0.1) -> np.ndarray:
    """F_M (H×W×C float64, source units, unclipped): ``src``'s phase with its low-frequency amplitude
    mixed towards ``tgt``'s by ``weight`` (0: the source back; 1: the target's amplitude).

    Computed on the real FFT's half spectrum, changing only the window's coefficients: the window
    (signed frequencies −b … b on both axes) is symmetric and the mix keeps the spectrum Hermitian,
    so this equals the literal full-spectrum code (:func:`amplitude_mix_literal`) to rounding, about
    twice as fast at 256 px."""
    src = np.asarray(src, np.float64)
    tgt = np.asarray(tgt, np.float64)
    if src.shape != tgt.shape:
        raise ValueError(f"source {src.shape} and target {tgt.shape} must have the same shape")
    h, w = src.shape[:2]
    b = window_halfwidth(src.shape, window)
    ix = np.ix_(np.r_[0:b + 1, h - b:h], np.arange(b + 1))  # its rows (signed −b … b) and columns 0 … b, unshifted
    fs = np.fft.rfft2(src, axes=(0, 1))
    block = fs[ix]
    amp = np.abs(block)
    unit = np.divide(block, amp, out=np.ones_like(block), where=amp > 0)  # e^{jP}; P = 0 where A = 0, as np.angle
    amp_t = np.abs(np.fft.rfft2(tgt, axes=(0, 1))[ix])
    fs[ix] = ((1.0 - weight) * amp + weight * amp_t) * unit
    return np.fft.irfft2(fs, s=(h, w), axes=(0, 1))


def amplitude_mix_literal(src: np.ndarray, tgt: np.ndarray, weight: float, window: float = 0.1) -> np.ndarray:
    """:func:`amplitude_mix` as the authors' ``data/FDA.py`` computes it: full spectra, fftshift, the window
    mixed, the real part of the inverse FFT (the reference the fast version is tested against)."""
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
