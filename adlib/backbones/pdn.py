"""EfficientAD's patch description network (PDN; Batzner et al., WACV 2024, §3.1), the MHKD teacher.

A PDN is a plain convolution stack with a 33×33-px receptive field and no normalisation layer:

- **PDN-S**: conv4 3→128, ReLU, avgpool, conv4 128→256, ReLU, avgpool, conv3 256→256, ReLU, conv4 256→C;
- **PDN-M**: conv4 3→256, ReLU, avgpool, conv4 256→512, ReLU, avgpool, conv1 512→512, ReLU,
  conv3 512→512, ReLU, conv4 512→C, ReLU, conv1 C→C.

``padding=True`` pads every 4×4 conv by 3, every 2×2 average pool by 1 and the 3×3 conv by 1 (the
last 4×4 and the 1×1 convs never): a 256-px image gives 64×64 (S/4) instead of 56×56. The public
weights were distilled with padding; EfficientAD runs them without, MHKD with. Padding is a property
of the forward pass, not of the weights (:meth:`PDN.set_padding`), so one file serves both; it is
recorded beside the weights (padded-trained weights load silently into an unpadded PDN).

The layer order is that of nelson1425/EfficientAD's ``nn.Sequential`` (tensor keys 0, 3, 6, 8[, 10,
12]), so its files load by name; anomalib's ``conv1…conv6`` files load by order (shape-checked).
``width`` scales the inner channels (a student on the CPU; a teacher is always width 1).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PDN", "PDNFeatures", "PDN_SIZES", "KNOWN_PDN_FILES", "pdn_output_size", "receptive_field"]

PDN_SIZES = ("small", "medium")

# sha256 of the published PDN files as a third-party record lists them (not verified here: no download);
# a file with another hash is used as given, its sha256 recorded.
KNOWN_PDN_FILES = {
    "b98a6a139087a0d743783ee59f367f0284af6003eb1a5fed0ce92bd9c0acd337": "nelson1425/EfficientAD models/teacher_small.pth",
    "a66e1513cbc252e7907531ef4536155e338a48e8edf3a5e6a66498f661414b9c": "nelson1425/EfficientAD models/teacher_medium.pth",
    "a16ded54719674435576aee641152616a640dfc6dc2b83115dab6e226610ae7d":
        "anomalib efficientad_pretrained_weights.zip: pretrained_teacher_small.pth",
    "f7356663c8e00ada12ae01fb8c8aad0a1de2f800f8eadf252a46d29bbdfdf718":
        "anomalib efficientad_pretrained_weights.zip: pretrained_teacher_medium.pth",
}


def _scaled(c: int, width: float) -> int:
    return max(8, int(round(c * width)))


class PDN(nn.Sequential):
    """A PDN of ``size`` ``"small"`` or ``"medium"`` with ``out_channels`` outputs (384 for a teacher,
    768 for EfficientAD's student: 0–383 mimic the teacher, 384–767 the autoencoder)."""

    def __init__(self, size: str = "medium", out_channels: int = 384, padding: bool = True, width: float = 1.0):
        if size not in PDN_SIZES:
            raise ValueError(f"PDN size must be one of {PDN_SIZES}, got {size!r}")
        if width <= 0:
            raise ValueError(f"PDN width must be positive, got {width}")
        c1, c2 = (_scaled(128, width), _scaled(256, width)) if size == "small" else (_scaled(256, width), _scaled(512, width))
        pool = lambda: nn.AvgPool2d(2, 2)  # noqa: E731
        if size == "small":
            layers = [nn.Conv2d(3, c1, 4), nn.ReLU(inplace=True), pool(),
                      nn.Conv2d(c1, c2, 4), nn.ReLU(inplace=True), pool(),
                      nn.Conv2d(c2, c2, 3), nn.ReLU(inplace=True),
                      nn.Conv2d(c2, out_channels, 4)]
        else:
            layers = [nn.Conv2d(3, c1, 4), nn.ReLU(inplace=True), pool(),
                      nn.Conv2d(c1, c2, 4), nn.ReLU(inplace=True), pool(),
                      nn.Conv2d(c2, c2, 1), nn.ReLU(inplace=True),
                      nn.Conv2d(c2, c2, 3), nn.ReLU(inplace=True),
                      nn.Conv2d(c2, out_channels, 4), nn.ReLU(inplace=True),
                      nn.Conv2d(out_channels, out_channels, 1)]
        super().__init__(*layers)
        self.size, self.out_channels, self.width = size, out_channels, width
        self._padded = [m for m in self if isinstance(m, (nn.AvgPool2d, nn.Conv2d))][:-2 if size == "medium" else -1]
        self.set_padding(padding)

    def set_padding(self, padding: bool) -> "PDN":
        """Pad the 4×4 convs by 3, the pools and the 3×3 conv by 1 (``True``), or nothing; returns self."""
        self.padding = bool(padding)
        for m in self._padded:
            if isinstance(m, nn.AvgPool2d):
                m.padding = 1 if padding else 0
            elif m.kernel_size[0] > 1:
                m.padding = ((3, 3) if m.kernel_size[0] == 4 else (1, 1)) if padding else (0, 0)
        return self

    def extra_repr(self) -> str:
        return f"size={self.size!r}, out_channels={self.out_channels}, padding={self.padding}, width={self.width}"


class PDNFeatures(PDN):
    """A PDN as a registry backbone body: ``forward`` returns ``[features]``; ``channels``/``reductions``."""

    def __init__(self, size: str = "medium", out_channels: int = 384, padding: bool = True):
        super().__init__(size, out_channels, padding)
        self.channels, self.reductions = [out_channels], [4]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [super().forward(x)]


def pdn_output_size(image_size: int, padding: bool) -> int:
    """The PDN's output grid for a square input: S/4 padded, S/4 − 8 unpadded (S a multiple of 4)."""
    return image_size // 4 if padding else image_size // 4 - 8


def receptive_field(module: nn.Module, image_size: int = 128, channels: int = 3) -> tuple[int, int]:
    """The measured receptive field (rows, cols in px) of the centre output of ``module``: the extent of
    the input pixels whose gradient is non-zero (weights made positive on a copy, so nothing cancels)."""
    import copy

    net = copy.deepcopy(module).float().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() + 1e-3)
    x = torch.ones(1, channels, image_size, image_size, requires_grad=True)
    out = net(x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    h, w = out.shape[-2:]
    out[0, :, h // 2, w // 2].sum().backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
