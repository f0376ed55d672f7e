"""DAF: Discrepancy Aware Framework (Cai et al., IEEE TII 2023): a frozen teacher, a random-init
student fed synthetic anomalies, and a segmentation head guided by their discrepancy.

Training (§III.B–D): the teacher sees the clean image I, the student its synthetic version P.
The student mimics the teacher on normal pixels (L_kd = L_cos + L_SSIM, Eqs. 1–4); the
discrepancy maps M_l (Eq. 5, multi-channel as in the code) are fused into M̄, which with the
student's features drives the segmentation head (Eq. 6, L_seg = balanced BCE, Eq. 7); auxiliary
heads on the student's levels add L_dis. M̄ is not detached: L_seg trains the student too.
Inference (Eq. 8): both networks see x; M_Score = G_σ=4(M̄ + λ·M_S), λ = 3; the image score is
the mean of the 50 largest values of M_Score.

Defaults are the authors' code (what produced the paper's numbers); switches name the paper's
reading or an ablation: ``discrepancy_input="mean"`` (the paper's single-channel M̄),
``input_norm="teacher"`` (RGB normalised for the teacher instead of the code's BGR in [0, 1]),
``ablation`` (Tables V and IX), ``seg_discrepancy_input`` (VII), ``student_init`` (X),
``kd_loss`` (XI), ``score_map`` (VI, evaluation variants of one trained model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from adlib.data.transforms import IMAGENET, UNIT_BGR, InputSpec

from ..base import AnomalyMethod, FitData, Prediction, register
from ..common import gaussian_blur
from .discrepancy import DISCREPANCY_INPUTS, KD_LOSSES, SSIM_NORMS, fuse_levels, level_discrepancy, scoring_map
from .heads import AuxHead, SegHead, Smooth
from .losses import aux_loss, balanced_bce, masked_cos_loss, masked_ssim_loss, normal_region
from .schedule import INTERVALS, daf_optimizer

ABLATIONS = ("none", "ts_only", "seg_only", "no_aux", "ensemble")
INPUT_NORMS = ("code", "teacher")
SCORE_MAPS = ("both", "discrepancy", "segmentation")


@dataclass
class DAFConfig:
    """DAF settings; defaults are the authors' code (paper readings and ablations are switches)."""

    backbone: str = "resnet18"
    weights: str = "auto"  # teacher: "auto" | checkpoint path | "random" (explicitly untrained)
    layers: tuple[int, int, int] | None = None  # teacher stages (None: 1-2-3, strides 4/8/16)
    student_init: str = "random"  # "pretrained": a copy of the teacher (Table X)
    input_norm: str = "code"  # code: BGR in [0, 1] for both networks | "teacher": RGB, the teacher's mean/std
    kd_loss: str = "cos_ssim"  # "cos" | "ssim": Table XI (the level map keeps the same term)
    discrepancy_input: str = "multichannel"  # code: per-channel maps tiled | "mean": the paper's single map
    seg_discrepancy_input: bool = True  # M̄ enters the segmentation head (Table VII)
    fuse_channels: int = 256  # channels of M̄ after the Smooth layer
    aux: bool = True  # auxiliary heads (L_dis)
    ablation: str = "none"  # ts_only | seg_only (the segmentation-only network) | no_aux | ensemble (Tables V, IX)
    ssim_norm: str = "auto"  # "max" (code) | "absmax"; auto: max for ReLU teachers, absmax for signed (Lite)
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    ssim_k: tuple[float, float] = (0.01, 0.03)  # C1 = 1e-4, C2 = 9e-4 (the paper's footnote "1e-1" is a typo)
    negative_ratio: float = 3.0  # hard negatives per positive pixel (Eq. 7)
    lam: float = 3.0  # λ of Eq. 8
    sigma: float = 4.0  # Gaussian smoothing of the score map, in pixels at every size
    score_topk: int | None = 50  # image score: mean of the k largest values (None: the maximum)
    score_map: str = "both"  # "discrepancy": G(M̄) | "segmentation": G(M_S) | both: G(M̄ + λ·M_S)
    lr: float = 2e-4
    weight_decay: float = 1e-5
    warmup_frac: float = 50 / 1200
    milestone_fracs: tuple[float, ...] = (700 / 1200, 1000 / 1200)
    gamma: float = 0.2
    schedule_interval: str = "step"  # "epoch": the code's per-epoch schedule (epoch 0 at lr 0)
    synthesis: str = "dra"  # adlib.synthesis.build_strategy: dra | nsa_b | simple_texture | simple_shape | ...
    beta_max: float = 0.8  # DRA's blend: β ~ U[0, beta_max) (Table VIII: 0 = opaque paste)
    texture_source: str = "dtd"  # "dtd" (an error when absent) | "procedural" | "folder:<path>" (dra, simple_shape)
    normal_probability: float = 0.0  # fraction of clean draws (code: 0, every draw is anomalous)
    max_redraws: int = 32  # draws again while the synthetic label is empty
    eval_variants: bool = True  # also evaluate the score-map variants (Table VI) and the max image score


@dataclass(frozen=True)
class Layout:
    """Which parts a config trains: teacher-student (kd), segmentation head (seg), M̄ into it
    (seg_disc), auxiliary heads (aux), a second student for the segmentation network (two_students)."""

    kd: bool
    seg: bool
    seg_disc: bool
    aux: bool
    two_students: bool

    @classmethod
    def of(cls, c: DAFConfig) -> Layout:
        kd, seg = c.ablation != "seg_only", c.ablation != "ts_only"
        return cls(kd=kd, seg=seg, seg_disc=seg and c.ablation in ("none", "no_aux") and c.seg_discrepancy_input,
                   aux=seg and c.aux and c.ablation in ("none", "ensemble"), two_students=c.ablation == "ensemble")


@dataclass
class DAFForward:
    """One forward pass: teacher / student features, per-level similarities, M_S and auxiliary maps."""

    teacher: list | None = None
    student: list | None = None
    levels: list | None = None  # LevelDiscrepancy per level
    segmentation: torch.Tensor | None = None  # M_S, B×1×H×W
    aux: list | None = None  # auxiliary probability maps at the levels' sizes

    def level_maps(self) -> list[torch.Tensor]:
        return [lv.map() for lv in self.levels]


def synthesis_strategy(config: DAFConfig, category: str | None = None):
    """The config's strategy from :func:`adlib.synthesis.build_strategy` (``texture_source``, and
    ``beta_max``, ``category``, ``max_redraws`` where the strategy takes them; NSA_B: the NSA paper's
    per-class settings, Poisson from another image)."""
    from adlib.synthesis import build_strategy, strategy_options

    wanted = {"beta_max": config.beta_max, "category": category, "max_redraws": config.max_redraws}
    allowed = strategy_options(config.synthesis)
    return build_strategy(config.synthesis, texture_source=config.texture_source,
                          **{k: v for k, v in wanted.items() if k in allowed})


def _check(config: DAFConfig) -> None:
    choices = {"ablation": ABLATIONS, "input_norm": INPUT_NORMS, "score_map": SCORE_MAPS, "kd_loss": KD_LOSSES,
               "discrepancy_input": DISCREPANCY_INPUTS, "ssim_norm": ("auto", *SSIM_NORMS),
               "schedule_interval": INTERVALS, "student_init": ("random", "pretrained")}
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise ValueError(f"daf: {key} must be one of {allowed}, got {getattr(config, key)!r}")
    if not 0.0 <= config.normal_probability <= 1.0:
        raise ValueError(f"daf: normal_probability must be in [0, 1], got {config.normal_probability}")
    if config.score_topk is not None and config.score_topk < 1:
        raise ValueError(f"daf: score_topk must be >= 1 or None, got {config.score_topk}")
    from adlib.synthesis.strategies import canonical_name

    canonical_name(config.synthesis)  # an unknown strategy fails now, not after the data are loaded
    if config.fuse_channels < 1 or config.ssim_window < 1 or config.ssim_window % 2 == 0:
        raise ValueError("daf: fuse_channels must be >= 1 and ssim_window a positive odd number")


@register("daf", DAFConfig)
class DAF(AnomalyMethod):
    """Teacher (frozen) vs random-init student on synthetic anomalies, plus a discrepancy-guided
    segmentation head; see the module docstring."""

    def __init__(self, config: DAFConfig | None = None):
        super().__init__()
        from adlib.backbones import InputAdapter, build_backbone, build_student

        self.config = config = config or DAFConfig()
        _check(config)
        layers = None if config.layers is None else tuple(int(i) for i in config.layers)
        self.teacher = build_backbone(config.backbone, layers=layers, weights=config.weights, trainable=False)
        channels = tuple(self.teacher.channels)
        if len(channels) != 3:
            raise ValueError(f"DAF needs a teacher with three levels, {config.backbone} gives {len(channels)}")
        # the datasets' normalisation (input_spec) → what both networks see (code: the same BGR [0, 1])
        target = self.teacher.input_spec if config.input_norm == "teacher" else UNIT_BGR
        self.model_input = InputAdapter(self.input_spec, target)
        self.layout = lay = Layout.of(config)
        self.student = build_student(self.teacher, config.student_init)
        self.seg_student = build_student(self.teacher, config.student_init) if lay.two_students else None
        fused = 1 if config.discrepancy_input == "mean" else max(channels)
        self.smooth = Smooth(fused, config.fuse_channels) if lay.seg_disc else None
        self.seg_head = SegHead(channels, config.fuse_channels if lay.seg_disc else 0) if lay.seg else None
        self.aux_heads = nn.ModuleList(AuxHead(c) for c in channels) if lay.aux else None

    @classmethod
    def input_spec_for(cls, config) -> InputSpec:
        """``input_norm="code"``: BGR in [0, 1] (the code's cv2 input); ``"teacher"``: ImageNet-normalised
        RGB, converted to the teacher's own normalisation inside."""
        return IMAGENET if getattr(config, "input_norm", "code") == "teacher" else UNIT_BGR

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Equal trainings share one run: ``ablation=no_aux`` is ``aux=False``; settings a variant
        does not use are dropped (seg_only: no teacher-student term; ts_only: no heads)."""
        config = dict(config)
        if config.get("ablation") == "no_aux":
            config.pop("ablation")
            config["aux"] = False
        unused = {"seg_only": ("kd_loss", "seg_discrepancy_input", "discrepancy_input", "aux", "ssim_norm"),
                  "ts_only": ("aux", "seg_discrepancy_input", "discrepancy_input", "fuse_channels", "negative_ratio")}
        for key in unused.get(config.get("ablation"), ()):
            config.pop(key, None)
        return config

    def resolved_ssim_norm(self) -> str:
        """``ssim_norm`` with ``"auto"`` resolved: absmax for signed teacher features (Lite), else max."""
        if self.config.ssim_norm != "auto":
            return self.config.ssim_norm
        return "absmax" if self.teacher.signed_features else "max"

    def resolved_score_map(self) -> str:
        """The score map this model can give: ts_only has no M_S, seg_only no M̄."""
        if not self.layout.seg:
            return "discrepancy"
        return "segmentation" if not self.layout.kd else self.config.score_map

    # -- data ------------------------------------------------------------------------------------
    def prepare_data(self, train, *, category: str | None = None, seed: int = 0) -> FitData:
        """The training set with a synthetic version of every draw (``aug_image``, ``aug_mask``):
        strategy ``synthesis``, anomalous with probability 1 − normal_probability, empty labels redrawn."""
        from adlib.synthesis import SyntheticAnomalies

        strategy = synthesis_strategy(self.config, category)
        return FitData(SyntheticAnomalies(train, strategy, probability=1 - self.config.normal_probability, seed=seed,
                                          needs_source=strategy.needs_source))

    # -- forward -----------------------------------------------------------------------------------
    def forward_features(self, image: torch.Tensor, student_image: torch.Tensor, with_aux: bool = False) -> DAFForward:
        """Teacher on ``image``, student on ``student_image`` (training: I and P; test: both x),
        then the level similarities, M_S and (``with_aux``) the auxiliary maps."""
        c, lay, rec = self.config, self.layout, DAFForward()
        xs = self.model_input(student_image)
        rec.student = list(self.student(xs))
        if lay.kd:
            with torch.no_grad():
                rec.teacher = list(self.teacher(self.model_input(image)))
            norm = self.resolved_ssim_norm()
            rec.levels = [level_discrepancy(t, s, c.kd_loss, norm, c.ssim_window, c.ssim_sigma, tuple(c.ssim_k))
                          for t, s in zip(rec.teacher, rec.student)]
        if lay.seg:
            feats = list(self.seg_student(xs)) if lay.two_students else rec.student
            disc = self.smooth(fuse_levels(rec.level_maps(), c.discrepancy_input)) if lay.seg_disc else None
            rec.segmentation = self.seg_head(feats, disc, tuple(image.shape[-2:]))
            if with_aux and lay.aux:
                rec.aux = [head(f) for head, f in zip(self.aux_heads, feats)]
        return rec

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """L = L_cos + L_SSIM (normal pixels, Eqs. 1–4) + L_seg (Eq. 7) + L_dis (§III.D), as the
        config's layout has them; terms ``kd_cos``, ``kd_ssim``, ``seg``, ``dis``, ``loss``."""
        x = batch["image"]
        p = batch.get("aug_image", x)
        y = batch.get("aug_mask")
        y = torch.zeros_like(x[:, :1]) if y is None else y.to(x.device)
        rec = self.forward_features(x, p, with_aux=True)
        terms = {}
        if self.layout.kd:
            normals = [normal_region(y, s) for s in rec.student]
            if rec.levels[0].cos is not None:
                terms["kd_cos"] = sum(masked_cos_loss(lv.cos, n) for lv, n in zip(rec.levels, normals))
            if rec.levels[0].ssim is not None:
                terms["kd_ssim"] = sum(masked_ssim_loss(lv.ssim, n) for lv, n in zip(rec.levels, normals))
        if self.layout.seg:
            terms["seg"] = balanced_bce(rec.segmentation, y, self.config.negative_ratio)
        if rec.aux is not None:
            terms["dis"] = aux_loss(rec.aux, y, self.config.negative_ratio)
        terms["loss"] = sum(terms.values())
        return terms

    COMPOSE_FIELDS = ("score_map", "lam", "sigma", "score_topk")

    @torch.no_grad()
    def predict(self, batch: dict) -> Prediction:
        """Eq. 8: M_Score = G_σ(M̄ + λ·M_S) (or one of them: ``score_map``), its top-k image score, and
        the parts ``discrepancy`` (M̄), ``segmentation`` (M_S) and ``level1..3`` (each level's channel mean)."""
        return self.compose(self.forward_parts(batch), batch)

    @torch.no_grad()
    def forward_parts(self, batch: dict) -> dict[str, torch.Tensor]:
        """M̄, M_S and each level's map of the batch (float32, at the input size)."""
        x = batch["image"]
        size = tuple(x.shape[-2:])
        rec = self.forward_features(x, x)
        parts = {}
        with torch.autocast(x.device.type, enabled=False):
            if rec.levels is not None:
                maps = rec.level_maps()
                parts["discrepancy"] = scoring_map(maps, size)
                parts.update({f"level{i + 1}": scoring_map([m], size) for i, m in enumerate(maps)})
            if rec.segmentation is not None:
                parts["segmentation"] = rec.segmentation.float()
        return parts

    def compose(self, parts: dict[str, torch.Tensor], batch: dict) -> Prediction:
        """The config's score map of the parts, smoothed, and its image score."""
        with torch.autocast(batch["image"].device.type, enabled=False):
            which = self.resolved_score_map()
            combined = parts["discrepancy"] + self.config.lam * parts["segmentation"] if which == "both" else parts[which]
            amap = gaussian_blur(combined, self.config.sigma)
        return Prediction(amap, self.image_score_rule(amap), parts)

    # -- training setup and records ------------------------------------------------------------------
    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        """AdamW over everything but the teacher, warm-up then ×γ steps (:mod:`.schedule`)."""
        c = self.config
        params = [p for n, p in self.named_parameters() if not n.startswith("teacher.") and p.requires_grad]
        return daf_optimizer(params, total_steps, steps_per_epoch, lr=c.lr, weight_decay=c.weight_decay,
                             warmup_frac=c.warmup_frac, milestone_fracs=c.milestone_fracs, gamma=c.gamma,
                             interval=c.schedule_interval)

    @torch.no_grad()
    def mechanics_check(self, test, *, category: str | None = None, seed: int = 0, batch_size: int = 32) -> dict:
        """Spec §4(a), what shows the implementation works whatever the real data: the training strategy
        drawn twice on every normal test image (fixed seeds); pixel AUROC of M_S and of M̄ against the
        synthetic labels (expected after training: ≥ 0.95 and ≥ 0.8), and M̄ inside the synthetic regions
        vs on the clean images (expected higher). Beside them, what tells a bug from a subtle strategy:
        the pixel AUROC of what the synthesis changed (``|synthetic − clean|``) against its labels (near 1:
        labels and images agree) and the median change inside the labels in grey levels."""
        from adlib.metrics import pixel_auroc
        from adlib.synthesis import change_vs_labels, synthetic_test_set

        x, y, change = synthetic_test_set(test, synthesis_strategy(self.config, category), draws=2, seed=seed,
                                          with_change=True)
        was = self.training
        self.eval()
        try:
            def parts_of(images):
                outs = [self.forward_parts({"image": images[j:j + batch_size].to(self.device)})
                        for j in range(0, len(images), batch_size)]
                return {k: torch.cat([o[k].float().cpu() for o in outs]) for k in outs[0]}

            syn = parts_of(x)
            inside = y[:, 0] > 0.5
            out = {"strategy": self.config.synthesis, "n_images": len(x), "draws_per_normal_image": 2, "seed": seed}
            seen = change_vs_labels(change, y)  # are the labels what changed, and how visible? (bug or subtlety)
            out.update({k: seen[k] for k in ("label_vs_change_pixel_auroc", "median_change_inside_grey") if k in seen})
            for k in ("segmentation", "discrepancy"):
                if k in syn and inside.any() and not inside.all():
                    out[f"{k}_pixel_auroc"] = pixel_auroc(syn[k][:, 0], y[:, 0]).value
            if "discrepancy" in syn and inside.any():  # the clean normal images only when there is M̄ to compare
                normals = torch.stack([test[i]["image"] for i in range(len(test)) if int(test.labels[i]) == 0])
                out["discrepancy_inside_synthetic"] = float(syn["discrepancy"][:, 0][inside].mean())
                out["discrepancy_clean_images"] = float(parts_of(normals)["discrepancy"].mean())
        finally:
            self.train(was)
        return out

    def evaluation_variants(self) -> dict[str, dict]:
        """Table VI's single maps (G(M̄), G(M_S)) when the model has both, and the max image score."""
        if not self.config.eval_variants:
            return {}
        out = {}
        if self.layout.kd and self.layout.seg and self.config.score_map == "both":
            out.update({"discrepancy": {"score_map": "discrepancy"}, "segmentation": {"score_map": "segmentation"}})
        if self.config.score_topk is not None:
            out["max"] = {"score_topk": None}
        return out

    def weights_info(self) -> dict:
        return self.teacher.weights_info()
