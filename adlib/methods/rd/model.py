"""Reverse Distillation (RD4AD, Deng & Li, CVPR 2022): frozen teacher → OCBE → mirrored student decoder.

The student never sees the image: it reconstructs the teacher's multi-scale features from the
compact one-class embedding, so it learns to reproduce only what normal images look like.

RD-family methods are RD's diff. One :meth:`ReverseDistillation.forward_features` builds an
:class:`RDForward` record, and small seams read or fill it:

- ``target_image(batch, training)``: whose teacher features are the target (RD, MRKD: the clean
  image; ``synthetic_input="target"``, DM-GRD: the fed synthetic image);
- ``bottleneck_input(batch, record)``: what the OCBE sees (RD: the target's teacher features;
  ``synthetic_input="bottleneck"``, MRKD's ILM: the teacher's features of a synthetic image;
  DM-GRD: memory + MSFF, with training-only branches when ``record.training``);
- ``transform_student(student, training, batch, pass_index)``: decoder outputs → the compared
  features (MRKD: feature-level masking + generation);
- ``extra_losses(batch, record)``: additional terms (RD-Var's variance loss), weighted by
  ``loss_weights``;
- ``test_passes()``: how many test-time passes a map averages (MRKD's ``flm_passes``);
- ``build_bottleneck`` / ``build_decoder``: the modules themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..base import AnomalyMethod, FitData, Prediction, register
from .anomaly_map import anomaly_map, fused_map, level_maps
from .bottleneck import OCBE
from .decoder import MirroredDecoder, decoder_activation_for, preset_for
from .loss import rd_loss

SYNTHETIC_INPUTS = ("none", "bottleneck", "target")


@dataclass
class RDConfig:
    """RD4AD settings; defaults are the authors' code (the switches name the paper's variant)."""

    backbone: str = "wide_resnet50_2"
    weights: str = "auto"  # "auto" | path to a checkpoint | "random" (explicitly untrained teacher)
    layers: tuple[int, int, int] | None = None  # teacher stages tapped (None: the registry's, 1-2-3 = strides 4/8/16)
    lr: float = 0.005
    betas: tuple[float, float] = (0.5, 0.999)  # not anomalib's (0.5, 0.99)
    loss_mode: str = "flatten"  # code: one cosine per flattened map; "per_pixel" = paper Eq. 3
    fusion: str = "add"  # code mode "a": sum of level maps; "mul" = product
    sigma: float = 4.0  # Gaussian smoothing of the map (scipy, truncate 4 → 33 taps)
    decoder_block: str | None = None  # None: the backbone's preset (bottleneck for WRN50, basic otherwise)
    decoder_blocks: tuple[int, int, int] | None = None
    with_unused_conv: bool = False  # the code's never-called conv4/bn4 in OCBE (parameter count only)
    decoder_out_act: str = "auto"  # "relu" (code, post-ReLU ResNet teachers) | "none" (linear ends) | "auto":
    #                               "none" for teachers with signed features (EfficientNet-Lite), else "relu"
    score_levels: tuple[int, ...] | None = None  # levels fused into the map (None = all; MRKD Table 7)
    score_topk: int | None = None  # image score: None = max of the map (RD); k = mean of the k largest
    synthetic_input: str = "none"  # "bottleneck": OCBE sees T(synthetic), target T(clean) (MRKD ILM);
    #                                "target": the synthetic image is fed and is the target (DM-GRD)
    synthetic_probability: float = 1.0  # fraction of training draws that are synthesised
    extra: dict = field(default_factory=dict)


@dataclass
class RDForward:
    """One forward pass of an RD-family model: everything the seams and the losses read."""

    target_image: torch.Tensor  # the image whose teacher features are the target
    teacher: list[torch.Tensor]  # E^k: the teacher's features of target_image
    bottleneck_input: list[torch.Tensor] | None = None  # what the OCBE saw
    embedding: torch.Tensor | None = None  # the OCBE output φ
    student_raw: list[torch.Tensor] | None = None  # D^k as the decoder gave them
    student: list[torch.Tensor] | None = None  # D^k after transform_student (compared with E^k)
    extras: dict = field(default_factory=dict)  # anything a subclass wants to keep (attention, memory items …)
    training: bool = False  # a training step (seams may then compute training-only branches: DM-GRD's abnormal memory)


@register("rd", RDConfig)
class ReverseDistillation(AnomalyMethod):
    """Teacher (frozen) → OCBE → decoder; anomaly = 1 − cos between teacher and student features."""

    def __init__(self, config: RDConfig | None = None):
        super().__init__()
        from adlib.backbones import build_backbone

        config = config or RDConfig()
        if config.decoder_out_act == "auto":  # recorded resolved, so results say what was trained
            config = replace(config, decoder_out_act=decoder_activation_for(config.backbone))
        self.config = config
        if config.synthetic_input not in SYNTHETIC_INPUTS:
            raise ValueError(f"synthetic_input must be one of {SYNTHETIC_INPUTS}, got {config.synthetic_input!r}")
        if not 0.0 <= config.synthetic_probability <= 1.0:
            raise ValueError(f"synthetic_probability must be in [0, 1], got {config.synthetic_probability}")
        layers = None if config.layers is None else tuple(int(i) for i in config.layers)
        self.teacher = build_backbone(config.backbone, layers=layers, weights=config.weights, trainable=False)
        channels = tuple(self.teacher.channels)
        if len(channels) != 3:
            raise ValueError(f"RD needs a teacher with three levels, {config.backbone} gives {len(channels)}")
        # the datasets' normalisation (input_spec) → the teacher's own (Lite: mean 0.5, std 0.5)
        self.teacher_input = self.teacher.adapter(self.input_spec)
        self.bottleneck = self.build_bottleneck(channels)
        self.decoder = self.build_decoder(channels, self.bottleneck.out_channels)
        self.loss_weights = {"kd": 1.0}

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """``decoder_out_act`` resolved for the teacher; ReLU (the code, and the default before
        "auto") is dropped so runs trained with it keep their names."""
        config = dict(config)
        act = config.get("decoder_out_act", "auto")
        if act == "auto":
            act = decoder_activation_for(config.get("backbone", RDConfig.backbone))
        config.pop("decoder_out_act", None)
        if act != "relu":
            config["decoder_out_act"] = act
        return config

    # -- modules ---------------------------------------------------------------------------------
    def _preset(self) -> tuple[str, int, tuple[int, int, int], int]:
        block, oce_blocks, dec_blocks, base_width = preset_for(self.config.backbone)
        return (self.config.decoder_block or block, oce_blocks, tuple(self.config.decoder_blocks or dec_blocks),
                base_width)

    def build_bottleneck(self, channels: tuple[int, ...]) -> torch.nn.Module:
        """RD4AD §3.2: the OCBE (MFF + OCE) over the teacher's channels; ``out_channels`` attribute required."""
        block, oce_blocks, _, base_width = self._preset()
        return OCBE(channels, block, oce_blocks, base_width, self.config.with_unused_conv)

    def build_decoder(self, channels: tuple[int, ...], in_channels: int) -> torch.nn.Module:
        """RD4AD §3.1: the student decoder mirroring the teacher."""
        block, _, dec_blocks, base_width = self._preset()
        return MirroredDecoder(channels, in_channels, block, dec_blocks, base_width, self.config.decoder_out_act)

    # -- data ------------------------------------------------------------------------------------
    def synthetic_role(self) -> str:
        """Where synthetic anomalies enter: ``"none"``, ``"bottleneck"`` or ``"target"`` (see the config)."""
        return self.config.synthetic_input

    def synthesis(self, category: str | None = None):
        """The synthesis strategy and whether it needs a second (source) image: ``(strategy, needs_source)``.
        RD: NSA as in the MRKD code (swap paste from the same image); subclasses choose theirs."""
        from adlib.synthesis.nsa import NSA
        from adlib.synthesis.nsa_presets import nsa_config

        cfg = nsa_config("code", category)
        return NSA(cfg), not cfg.same

    def synthetic_probability(self) -> float:
        return self.config.synthetic_probability

    def prepare_data(self, train, *, category: str | None = None, seed: int = 0) -> FitData:
        """The training set, wrapped with synthetic anomalies (``aug_image``, probability per draw)
        when synthetic images enter the model."""
        if self.synthetic_role() == "none":
            return FitData(train)
        from adlib.synthesis import SyntheticAnomalies

        strategy, needs_source = self.synthesis(category)
        return FitData(SyntheticAnomalies(train, strategy, probability=self.synthetic_probability(), seed=seed,
                                          needs_source=needs_source))

    # -- seams -----------------------------------------------------------------------------------
    @torch.no_grad()
    def teacher_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """E^k: the frozen teacher's features of images normalised as ``input_spec``."""
        return list(self.teacher(self.teacher_input(x)))

    def target_image(self, batch: dict, training: bool) -> torch.Tensor:
        """The image whose teacher features are the target: the fed synthetic image with
        ``synthetic_input="target"`` (when the batch has one), else the clean image."""
        if self.synthetic_role() == "target" and "aug_image" in batch:
            return batch["aug_image"]
        return batch["image"]

    def bottleneck_input(self, batch: dict, record: RDForward) -> list[torch.Tensor]:
        """What the OCBE sees: the target's teacher features; with ``synthetic_input="bottleneck"``
        the teacher's features of the synthetic image (MRKD Eq. 1) when the batch has one."""
        if self.synthetic_role() == "bottleneck" and "aug_image" in batch:
            return self.teacher_features(batch["aug_image"])
        return record.teacher

    def transform_student(self, student: list[torch.Tensor], training: bool, batch: dict | None = None,
                          pass_index: int = 0) -> list[torch.Tensor]:
        """Post-process decoder outputs (RD: identity; MRKD: feature-level masking + generation)."""
        return student

    def extra_losses(self, batch: dict, record: RDForward) -> dict:
        """Additional loss terms, weighted by ``self.loss_weights`` (RD: none)."""
        return {}

    def test_passes(self) -> int:
        """Test-time passes whose maps are averaged (RD: one)."""
        return 1

    # -- the forward record ----------------------------------------------------------------------
    def forward_features(self, batch: dict, training: bool) -> RDForward:
        """Teacher → bottleneck → decoder → transform (pass 0), as one :class:`RDForward` record."""
        x = self.target_image(batch, training)
        rec = RDForward(target_image=x, teacher=self.teacher_features(x), training=training)
        rec.bottleneck_input = self.bottleneck_input(batch, rec)
        rec.embedding = self.bottleneck(rec.bottleneck_input)
        rec.student_raw = self.decoder(rec.embedding)
        rec.student = self.transform_student(rec.student_raw, training, batch, 0)
        return rec

    def student_features(self, batch: dict, teacher_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """The decoder's raw outputs for given teacher features (before ``transform_student``)."""
        rec = RDForward(target_image=batch["image"], teacher=teacher_feats)
        return self.decoder(self.bottleneck(self.bottleneck_input(batch, rec)))

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        rec = self.forward_features(batch, training=True)
        terms = {"kd": rd_loss(rec.teacher, rec.student, self.config.loss_mode), **self.extra_losses(batch, rec)}
        missing = [k for k in terms if k not in self.loss_weights]
        if missing:
            raise KeyError(f"{self.name}: loss terms {missing} have no weight in loss_weights "
                           f"({sorted(self.loss_weights)}); add them (0 to log a term without training on it)")
        terms["loss"] = sum(self.loss_weights[k] * v for k, v in terms.items())
        return terms

    # config fields a variant may override and still share its batch's forward (RD: the map's fusion and score)
    COMPOSE_FIELDS = ("score_levels", "fusion", "sigma", "score_topk")
    # the fields each test pass's student features depend on (besides the pass index; MRKD: its FLM masks)
    PASS_FIELDS: tuple[str, ...] = ()

    @torch.no_grad()
    def forward_maps(self, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(anomaly map B×1×H×W, per-level maps) at the input resolution, averaged over
        :meth:`test_passes` passes of ``transform_student``."""
        return self._maps_of_passes(self._test_forward(batch), batch, {})

    def maps_from_features(self, teacher: list[torch.Tensor], student: list[torch.Tensor],
                           size: tuple[int, int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Fused, smoothed map of the ``score_levels`` (all by default) and every level's map."""
        return anomaly_map(teacher, student, size, self.config.fusion, self.config.sigma, self.config.score_levels)

    def _test_forward(self, batch: dict) -> RDForward:
        """The test-time forward (pass 0), marked with the setting its ``student`` was transformed under."""
        rec = self.forward_features(batch, training=False)
        rec.extras["pass_key"] = self._pass_key(0)
        return rec

    def _pass_key(self, k: int) -> tuple:
        return tuple(getattr(self.config, f) for f in self.PASS_FIELDS), k

    def _pass_levels(self, rec: RDForward, batch: dict, k: int, cache: dict) -> list[torch.Tensor]:
        """Per-level maps of test pass ``k`` under the current config, computed once per distinct pass."""
        key = self._pass_key(k)
        if key not in cache:
            student = rec.student if key == rec.extras.get("pass_key") else \
                self.transform_student(rec.student_raw, False, batch, k)
            with torch.autocast(rec.teacher[0].device.type, enabled=False):
                cache[key] = level_maps(rec.teacher, student, tuple(batch["image"].shape[-2:]))
        return cache[key]

    def _maps_of_passes(self, rec: RDForward, batch: dict, cache: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`forward_maps` from a test forward, the per-level maps of each pass taken from ``cache``."""
        c = self.config
        outs = [(fused_map(levels, c.fusion, c.sigma, c.score_levels), levels)
                for levels in (self._pass_levels(rec, batch, k, cache) for k in range(self.test_passes()))]
        if len(outs) == 1:
            return outs[0]
        amap = torch.stack([o[0] for o in outs]).mean(0)
        levels = [torch.stack([o[1][i] for o in outs]).mean(0) for i in range(len(outs[0][1]))]
        return amap, levels

    def _prediction(self, amap: torch.Tensor, levels: list[torch.Tensor]) -> Prediction:
        return Prediction(amap, self.image_score_rule(amap), {f"level{i + 1}": m for i, m in enumerate(levels)})

    @torch.no_grad()
    def predict(self, batch: dict) -> Prediction:
        """RD4AD §3.4: the map, its image score, and each level's map as parts ``level1``…"""
        return self._prediction(*self.forward_maps(batch))

    @torch.no_grad()
    def forward_parts(self, batch: dict) -> tuple[RDForward, dict]:
        """The teacher / bottleneck / decoder forward of the batch and a cache of its test passes' per-level
        maps: variants that override only :attr:`COMPOSE_FIELDS` share both (each distinct pass —
        :attr:`PASS_FIELDS`, pass index — transformed and turned into per-level maps once)."""
        return self._test_forward(batch), {}

    def compose(self, parts: tuple[RDForward, dict], batch: dict) -> Prediction:
        """The current config's fused map, image score and per-level parts from :meth:`forward_parts`."""
        rec, cache = parts
        return self._prediction(*self._maps_of_passes(rec, batch, cache))

    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        """Adam over everything but the frozen teacher (OCBE, decoder and any module a subclass adds)."""
        params = [p for n, p in self.named_parameters() if not n.startswith("teacher.") and p.requires_grad]
        return torch.optim.Adam(params, lr=self.config.lr, betas=tuple(self.config.betas))

    def weights_info(self) -> dict:
        return self.teacher.weights_info()
