"""EfficientAD (Batzner et al., WACV 2024): a frozen PDN teacher, a PDN student and an autoencoder.

Training (§3.2–3.3; nelson1425 ``efficientad.py``): t̂ = (F_t(x) − μ)/σ with the teacher's channel
statistics over the training images. The student's first 384 channels S_st mimic t̂ through the hard
feature loss (mean of the squared differences at or above their 0.999 quantile, plus an optional
penalty mean S_st(P)²); the autoencoder A reconstructs t̂ of a colour-jittered image I′ and the
student's other 384 channels S_ae mimic A(I′): L = L_ST + L_AE + L_STAE.
Inference (§3.4): A_st = mean_c (t̂ − S_st)², A_ae = mean_c (A − S_ae)², each normalised by
φ(A) = 0.1·(A − q_a)/(q_b − q_a) with q_a, q_b the 0.9 / 0.995 quantiles over all pixels of a
held-out normal set (:mod:`.calibration`, computed after training: :meth:`calibrate`); the map is
0.5·φA_st + 0.5·φA_ae, padded by 4 px (unpadded PDN), upsampled bilinearly to the image and, when
σ > 0, smoothed (:mod:`.maps`); the image score is its maximum.

Seams MHKD overrides: :meth:`build_student`, :meth:`loss_terms`, :meth:`raw_maps`, :meth:`map_names`.
Parts: ``structural`` (the student–teacher map) and ``logical`` (the autoencoder–student map).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..base import AnomalyMethod, FitData, Prediction, register
from .autoencoder import Autoencoder
from .calibration import CALIBRATION_SPLITS, calibration_split
from .inputs import PenaltyImages, jittered
from .maps import to_image
from .normalization import MapNormalizer, hard_mining_loss, teacher_channel_stats

SCORE_MAPS = ("both", "structural", "logical")


def images(dataset, batch_size: int, device):
    """Every image of ``dataset`` in order, in batches on ``device`` (float32)."""
    from adlib.engine.batches import make_loader
    from adlib.engine.env import move_batch

    device = torch.device(device)
    for b in make_loader(dataset, batch_size=batch_size, device=device):
        yield move_batch(b, device)["image"].float()


@dataclass
class EfficientADConfig:
    """EfficientAD-M as nelson1425's code runs it; CPU deviations (extractor teacher, width) are recorded."""

    teacher: str = "pdn_medium"  # pdn_small | pdn_medium | "extractor:<backbone>" (CPU: never called a PDN)
    weights: str = "auto"  # the PDN file: auto | path | random | distilled[:<recipe key>] (adlib.teachers.distill)
    teacher_padding: bool = False  # the padded-trained PDN run unpadded, maps padded by 4 px (MHKD: True)
    student_size: str = "auto"  # the student PDN: small | medium | auto (the teacher's; medium for an extractor)
    width: float = 1.0  # CPU profiles only: the student's (and A's) inner channels × width (a deviation)
    image_size: int = 256  # what the bottleneck kernels are built for; set from the data when fit starts
    out_channels: int = 384
    hard_quantile: float | None = 0.999  # L_hard's quantile (None: the plain mean)
    penalty: str = "none"  # none (nelson1425's default) | generic (packaged photos) | folder:<ImageNet path>
    ae_jitter: bool = True  # A's input: one ColorJitter 0.2 of the image
    dropout: float = 0.2
    lr: float = 1e-4
    weight_decay: float = 1e-5
    lr_step_frac: float = 0.95  # StepLR ×0.1 after 95 % of the steps
    calibration: str = "auto"  # auto | validation | holdout (10 % of train, random_split seed 42)
    calibration_fraction: float = 0.1
    calibration_seed: int = 42
    q_start: float = 0.9
    q_end: float = 0.995
    map_weights: tuple[float, float] = (0.5, 0.5)  # the map = w_s·φ(structural) + w_l·φ(logical)
    sigma_orig_px: float = 0.0  # Gaussian σ after upsampling, in original-image px (nelson1425: none)
    score_map: str = "both"  # both | structural | logical (evaluation variants)


def _check(c: EfficientADConfig, name: str) -> None:
    from adlib.teachers import extractor_name

    if extractor_name(c.teacher) is None and c.teacher not in ("pdn_small", "pdn_medium"):
        raise ValueError(f"{name}: teacher must be pdn_small, pdn_medium or extractor:<backbone>, got {c.teacher!r}")
    if c.student_size not in ("auto", "small", "medium"):
        raise ValueError(f"{name}: student_size must be auto, small or medium, got {c.student_size!r}")
    if c.calibration not in CALIBRATION_SPLITS:
        raise ValueError(f"{name}: calibration must be one of {CALIBRATION_SPLITS}, got {c.calibration!r}")
    if c.score_map not in SCORE_MAPS:
        raise ValueError(f"{name}: score_map must be one of {SCORE_MAPS}, got {c.score_map!r}")
    if c.penalty != "none" and c.penalty != "generic" and not c.penalty.startswith("folder:"):
        raise ValueError(f"{name}: penalty must be none, generic or folder:<path>, got {c.penalty!r}")
    if c.hard_quantile is not None and not 0.0 < c.hard_quantile < 1.0:
        raise ValueError(f"{name}: hard_quantile must be in (0, 1) or None, got {c.hard_quantile}")
    if c.width <= 0 or c.image_size % 32:
        raise ValueError(f"{name}: width must be > 0 and image_size a multiple of 32, got {c.width}, {c.image_size}")


@register("efficientad", EfficientADConfig)
class EfficientAD(AnomalyMethod):
    """PDN teacher, PDN student, autoencoder; see the module docstring."""

    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or type(self).config_class()
        _check(config, self.name)
        self.teacher = self.build_teacher()
        c = config.out_channels
        self.register_buffer("teacher_mean", torch.full((1, c, 1, 1), float("nan")))
        self.register_buffer("teacher_std", torch.full((1, c, 1, 1), float("nan")))
        self.normalizers = nn.ModuleDict({k: MapNormalizer(config.q_start, config.q_end) for k in self.map_names()})
        self.calibration_record: dict | None = None
        self._split_record: dict | None = None
        self._penalty = None
        self.build_student(config.image_size)

    # -- the networks ----------------------------------------------------------------------------
    @property
    def padded(self) -> bool:
        """The maps' grid is S/4 (a padded PDN or an extractor teacher), else S/4 − 8 (padded by 4 px)."""
        return self.config.teacher_padding or self.config.teacher.startswith("extractor:")

    def build_teacher(self) -> nn.Module:
        """The frozen teacher: a registry PDN (public file, distilled, or random) or the extractor itself."""
        from adlib.backbones import build_backbone
        from adlib.teachers import ExtractorTeacher, extractor_name

        c = self.config
        name = extractor_name(c.teacher)
        if name is not None:
            return ExtractorTeacher(name, self.input_spec, weights=c.weights, out_channels=c.out_channels)
        weights, self._distilled = c.weights, None
        if str(weights).startswith("distilled"):
            from adlib.teachers.distill import distilled_info, find_distilled

            key = weights.split(":", 1)[1] if ":" in weights else None
            weights = str(find_distilled(c.teacher.split("_", 1)[1], key))
            self._distilled = distilled_info(weights)
        teacher = build_backbone(c.teacher, weights=weights, trainable=False)
        if c.out_channels != teacher.channels[0]:
            raise ValueError(f"{self.name}: out_channels={c.out_channels} but {c.teacher} gives {teacher.channels[0]}")
        teacher.body.set_padding(c.teacher_padding)
        self.teacher_input = teacher.adapter(self.input_spec)
        return teacher

    def student_size(self) -> str:
        c = self.config
        return c.student_size if c.student_size != "auto" else (
            c.teacher.split("_", 1)[1] if c.teacher.startswith("pdn_") else "medium")

    def build_student(self, image_size: int) -> None:
        """S: a PDN with 2·384 outputs; A: the autoencoder (its kernels depend on ``image_size``)."""
        from adlib.backbones.pdn import PDN

        c = self.config
        self.student = PDN(self.student_size(), 2 * c.out_channels, padding=self.padded, width=c.width)
        self.autoencoder = Autoencoder(image_size, c.out_channels, self.padded, c.width, dropout=c.dropout)

    def map_names(self) -> tuple[str, ...]:
        """The raw maps normalised on the calibration set (each with its own quantiles)."""
        return ("structural", "logical")

    def part_maps(self) -> dict[str, str]:
        """Which normalised map is each part: ``{"structural": ..., "logical": ...}``."""
        return {"structural": "structural", "logical": "logical"}

    # -- seams -----------------------------------------------------------------------------------
    @torch.no_grad()
    def teacher_raw(self, x: torch.Tensor) -> torch.Tensor:
        inp = getattr(self, "teacher_input", None)
        return self.teacher(inp(x) if inp is not None else x)[0].float()

    @torch.no_grad()
    def teacher_features(self, x: torch.Tensor) -> torch.Tensor:
        """t̂ = (F_t(x) − μ)/σ (float32)."""
        if not bool(torch.isfinite(self.teacher_std).all()):
            raise RuntimeError(f"{self.name}: teacher statistics not computed; fit calls on_fit_start first")
        return (self.teacher_raw(x) - self.teacher_mean) / self.teacher_std

    def loss_terms(self, batch: dict, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_ST (hard + penalty), L_AE, L_STAE; ``t`` = t̂ of the batch."""
        c, x, k = self.config, batch["image"], self.config.out_channels
        d_st = (t - self.student(x)[:, :k].float()) ** 2
        terms = {"st": hard_mining_loss(d_st, c.hard_quantile) if c.hard_quantile is not None else d_st.mean()}
        if self._penalty is not None:
            terms["penalty"] = (self.student(self._penalty(len(x), x.device))[:, :k].float() ** 2).mean()
        x_ae = jittered(x, self.input_spec) if c.ae_jitter else x
        t_ae = self.teacher_features(x_ae) if c.ae_jitter else t
        a = self.autoencoder(x_ae).float()
        terms["ae"] = ((t_ae - a) ** 2).mean()
        terms["stae"] = ((a - self.student(x_ae)[:, k:].float()) ** 2).mean()
        return terms

    def raw_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """B×1×h×w maps on the teacher's grid: structural mean_c (t̂ − S_st)², logical mean_c (A − S_ae)²."""
        k = self.config.out_channels
        t, s, a = self.teacher_features(x), self.student(x).float(), self.autoencoder(x).float()
        return {"structural": ((t - s[:, :k]) ** 2).mean(1, keepdim=True),
                "logical": ((a - s[:, k:]) ** 2).mean(1, keepdim=True)}

    # -- the contract ------------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        terms = self.loss_terms(batch, self.teacher_features(batch["image"]))
        terms["loss"] = sum(terms.values())
        return terms

    @property
    def calibrated(self) -> bool:
        return all(n.fitted for n in self.normalizers.values())

    def normalised_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """φ of every raw map (raises before :meth:`calibrate`)."""
        if not self.calibrated:
            raise RuntimeError(f"{self.name}: the maps are not calibrated; fit calibrates them on a held-out "
                               "normal set when it ends, or call calibrate(dataset)")
        raw = self.raw_maps(x)
        return {k: self.normalizers[k](v) for k, v in raw.items()}

    def combine(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The anomaly map of the config's ``score_map``: weighted sum, or one part."""
        c = self.config
        if c.score_map != "both":
            return parts[c.score_map]
        return c.map_weights[0] * parts["structural"] + c.map_weights[1] * parts["logical"]

    def image_scores(self, amap: torch.Tensor, phi: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """The image score: the method's rule (the maximum) on the map."""
        return self.image_score_rule(amap)

    COMPOSE_FIELDS = ("score_map", "map_weights", "sigma_orig_px")

    @torch.no_grad()
    def predict(self, batch: dict) -> Prediction:
        """Parts ``structural`` and ``logical``: each φ-map padded (unpadded grid), upsampled, then smoothed;
        the map is their weighted sum (``score_map``: one of them)."""
        return self.compose(self.forward_parts(batch), batch)

    @torch.no_grad()
    def forward_parts(self, batch: dict) -> dict[str, torch.Tensor]:
        """φ of every raw map at the teacher's grid (all of them: a variant may pick another)."""
        x = batch["image"]
        with torch.autocast(x.device.type, enabled=False):
            return self.normalised_maps(x.float())

    def compose(self, phi: dict[str, torch.Tensor], batch: dict) -> Prediction:
        """The config's parts of φ at the image size, their map and the image scores."""
        x = batch["image"]
        with torch.autocast(x.device.type, enabled=False):
            size, orig = tuple(x.shape[-2:]), batch.get("orig_size")
            parts = {p: to_image(phi[k], size, self.padded, self.config.sigma_orig_px, orig)
                     for p, k in self.part_maps().items()}
            amap = self.combine(parts)
            scores = self.image_scores(amap, phi, size)
        return Prediction(amap, scores, parts)

    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        """Adam (lr 1e-4, wd 1e-5) over the student (and A); ×0.1 after ``lr_step_frac`` of the steps."""
        c = self.config
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        step = max(1, int(c.lr_step_frac * total_steps)) if total_steps else 10 ** 9
        return {"optimizer": opt, "scheduler": torch.optim.lr_scheduler.StepLR(opt, step, 0.1), "interval": "step"}

    # -- data, statistics, calibration --------------------------------------------------------------
    def prepare_data(self, train, *, category: str | None = None, seed: int = 0) -> FitData:
        """The training images minus the calibration set (validation split, or 10 % held out)."""
        c = self.config
        train_part, cal, self._split_record = calibration_split(train, c.calibration, c.calibration_fraction,
                                                                c.calibration_seed)
        return FitData(train_part, calibration=cal)

    def on_fit_start(self, ctx) -> None:
        """Rebuild S and A for the data's size, then the teacher's channel statistics (two passes)."""
        size = int(ctx.train_data[0]["image"].shape[-1])
        if size != self.config.image_size:
            self.config = replace(self.config, image_size=size)
            self.build_student(size)
            self.to(ctx.device)
            if ctx.channels_last:
                self.to(memory_format=torch.channels_last)
        with torch.autocast(ctx.device.type, enabled=False):
            mu, sigma = teacher_channel_stats(lambda: map(self.teacher_raw, images(ctx.train_data, ctx.batch_size,
                                                                                   ctx.device)))
        self.teacher_mean.copy_(mu)
        self.teacher_std.copy_(sigma)
        if self.config.penalty != "none":
            self._penalty = PenaltyImages(self.config.penalty, size, self.input_spec)

    def on_fit_end(self, ctx) -> None:
        """Calibrate on the held-out set (or, without one, on the training images: warned and recorded)."""
        data, source = ctx.calibration_data, None
        if data is None:
            warnings.warn(f"{self.name}: no held-out calibration set; the map quantiles come from the training "
                          "images (prepare_data holds one out)", UserWarning, stacklevel=2)
            data, source = ctx.train_data, "the training images (no held-out set given)"
        self.calibrate(data, batch_size=ctx.batch_size, source=source)

    @torch.no_grad()
    def calibrate(self, dataset, batch_size: int = 16, source: str | None = None) -> dict:
        """q_a, q_b of every map over all pixels of ``dataset``'s maps (at the teacher's grid, eval mode)."""
        was = self.training
        self.eval()
        raw = {k: [] for k in self.map_names()}
        try:
            for x in images(dataset, batch_size, self.device):
                with torch.autocast(x.device.type, enabled=False):
                    for k, v in self.raw_maps(x).items():
                        raw[k].append(v.float())
        finally:
            self.train(was)
        for k, v in raw.items():
            self.normalizers[k].fit(torch.cat(v))
        split = self._split_record or {}
        self.calibration_record = {
            "source": source or split.get("source", "given"), "n": len(dataset),
            **({"indices": split["indices"]} if "indices" in split and source is None else {}),
            "quantiles": [self.config.q_start, self.config.q_end],
            "q": {k: [float(n.q_a), float(n.q_b)] for k, n in self.normalizers.items()}}
        return self.calibration_record

    # -- records ---------------------------------------------------------------------------------
    def evaluation_variants(self) -> dict[str, dict]:
        """Each normalised map alone (the structural and logical branches)."""
        return {"structural_only": {"score_map": "structural"}, "logical_only": {"score_map": "logical"}}

    def weights_info(self) -> dict:
        from adlib.backbones.pdn import KNOWN_PDN_FILES

        info = dict(self.teacher.weights_info())
        if not self.config.teacher.startswith("extractor:"):
            info.update({"teacher_kind": "PDN", "padding": bool(self.config.teacher_padding), "paper_teacher": False,
                         "known_as": KNOWN_PDN_FILES.get(info.get("sha256") or "", "not a file this registry lists")})
            info.update(getattr(self, "_distilled", None) or {})
        return info

