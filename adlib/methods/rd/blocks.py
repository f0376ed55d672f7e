"""ResNet blocks for the RD bottleneck (downsampling) and the mirrored decoder (upsampling).

Layouts follow the RD4AD code (``resnet.py`` / ``de_resnet.py``): in the decoder, the first block
of a stage upsamples with a bias-free 2×2 stride-2 transposed convolution where the encoder
block would use a 3×3 stride-2 convolution, and its shortcut is a transposed conv + BN.
"""

from __future__ import annotations

from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


def deconv2x2(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs (ResNet-18/34 style). ``up=True``: the first conv is a 2×2 transposed conv."""

    expansion = 1
    out_relu = True  # False: the block's output stays linear (a decoder's last block, signed teachers)

    def __init__(self, cin: int, planes: int, stride: int = 1, up: bool = False, base_width: int = 64):
        super().__init__()
        first = deconv2x2(cin, planes) if up else conv3x3(cin, planes, stride)
        self.conv1, self.bn1 = first, nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, planes, stride, up)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.relu(out) if self.out_relu else out


class Bottleneck(nn.Module):
    """1×1 → 3×3 (or 2×2 transposed when ``up``) → 1×1, width = planes·base_width/64, ×4 channels out."""

    expansion = 4
    out_relu = True

    def __init__(self, cin: int, planes: int, stride: int = 1, up: bool = False, base_width: int = 64):
        super().__init__()
        width = int(planes * base_width / 64)
        self.conv1, self.bn1 = conv1x1(cin, width), nn.BatchNorm2d(width)
        self.conv2 = deconv2x2(width, width) if up else conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, planes * 4, stride, up)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out)) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.relu(out) if self.out_relu else out


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _shortcut(cin: int, cout: int, stride: int, up: bool) -> nn.Module | None:
    if up:
        return nn.Sequential(deconv2x2(cin, cout), nn.BatchNorm2d(cout))
    if stride != 1 or cin != cout:
        return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
    return None


def make_stage(block: type, cin: int, planes: int, n_blocks: int, stride: int = 1, up: bool = False,
               base_width: int = 64) -> nn.Sequential:
    """A ResNet stage; only its first block changes resolution (down with ``stride``, up with ``up``)."""
    layers = [block(cin, planes, stride=stride, up=up, base_width=base_width)]
    layers += [block(planes * block.expansion, planes, base_width=base_width) for _ in range(1, n_blocks)]
    return nn.Sequential(*layers)


def init_rd_weights(module: nn.Module) -> None:
    """RD4AD init: Kaiming-normal (fan_out) for ``nn.Conv2d`` only, BN weight 1 / bias 0.

    Transposed convs keep PyTorch's default init, as in the authors' code (its loop matches Conv2d only).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
