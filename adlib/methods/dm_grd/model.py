"""DM-GRD: Dual Memory networks Guided Reverse Distillation (Tran et al., ACCV 2024) = RD + a diff.

RD4AD's teacher, OCBE and decoder unchanged (:class:`~adlib.methods.rd.ReverseDistillation`), plus:

- **input**: every other training draw is a Fourier + Perlin synthetic image (§4.1, Eqs. 2–5;
  :class:`~adlib.synthesis.FourierPerlin`), and the KD target is the teacher's features of the
  image that was fed — clean or synthetic (RD's ``synthetic_input="target"``);
- **bottleneck input** (the ``bottleneck_input`` seam): the teacher's features F select an item of
  the normal and of the abnormal memory bank (§4.2, Eq. 6; :mod:`.memory`), MI = [F ; DI], and the
  MSFF (§4.3, Eq. 7; :mod:`.msff`) fuses each bank's MI — the normal branch feeds the OCBE, the
  abnormal one (training only) the contrast loss;
- **losses** (the ``extra_losses`` seam): L = L_KD + α(L_OT + μ·L_Con) + τ·L_SE (Eq. 8; :mod:`.losses`),
  each term returned unweighted, the weights in ``loss_weights``.

``mode`` picks a consistent set of choices (explicit fields win; resolved into the config, so
results record them):

==================  =======================================  ==========================================
field               ``"code"`` (default: faithful — what     ``"paper"`` (as described: every term
                    produced the paper's numbers)            carries gradient, selection selects)
==================  =======================================  ==========================================
synthesis           λ ~ U(0,1), Eq. 5 literal, β ~ 0.8·U     γ ~ N(0,1), DRAEM blend, β ~ U(0.1, 1)
memory_select       "code": one fixed item for every image   "nearest": the most similar item per image
memory_trainable    False (built once, never updated)        True ("updatable memory", optimised)
ot_mode             "code": batch vs its permutation ≈ 0     "paper": per-sample clouds, Eq. 9
con_reduce          "sum" over levels                        "mean" (Eq. 10's 1/K)
se_mode             "code": gather of items 0…B−1, no graph  "paper": Eq. 11 repaired, grad into memories
==================  =======================================  ==========================================

The memory banks are built in ``on_fit_start`` (or :meth:`DMGRD.build_memory`) from ``memory_size``
clean and ``memory_size`` synthetic training images and saved with the checkpoint. Schedule: Adam
(betas 0.5, 0.999) with a linear warm-up from ``min_lr`` over ``warmup_ratio`` of the steps, then
cosine to ``min_lr`` (the code's ``CosineAnnealingWarmupRestarts``). Image score: mean of the 100
largest map values. Checkpoint selection is the engine's (final model by default; the code's
best-of-test-evaluations is ``ckpt_selection="best_on_test"``, labelled as inflating).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..base import FitData, register
from ..rd import RDConfig, ReverseDistillation
from . import losses as L
from .memory import SELECTIONS, DualMemory, select, topk_size
from .msff import MSFF

MODES = ("code", "paper")
LOSS_TERMS = ("kd", "ot", "con", "se")
PRESETS = {
    "code": {"synthesis": "code", "memory_select": "code", "memory_trainable": False, "ot_mode": "code",
             "con_reduce": "sum", "se_mode": "code"},
    "paper": {"synthesis": "paper", "memory_select": "nearest", "memory_trainable": True, "ot_mode": "paper",
              "con_reduce": "mean", "se_mode": "paper"},
}
TERM_FIELDS = {"ot": ("ot_mode", "ot_blur", "ot_scaling", "ot_reach", "ot_diameter", "ot_pool"),
               "con": ("con_margin", "con_reduce"), "se": ("se_mode", "se_margin", "tau")}
MEMORY_STREAM = 0x6D656D  # seed stream of the memory banks ("mem"): apart from the training draws


@dataclass
class DMGRDConfig(RDConfig):
    """DM-GRD settings; defaults are the authors' code. ``None`` fields take the ``mode``'s preset."""

    mode: str = "code"  # "code" (faithful) | "paper" (as described): presets of the None fields below
    synthesis: str | None = None  # FourierPerlin mode: "code" | "paper"
    texture_source: str = "dtd"  # "dtd" (the paper's) | "procedural" (offline stand-in) | "self" | "folder:<path>"
    beta: float | None = None  # fixed β (Table 8); None = random (the mode's range)
    alternate: bool = True  # odd training draws synthetic (the code's anomaly_switch); False: random, probability
    memory_size: int = 30  # L, items per bank (Table 9; clamped to the training set)
    memory_select: str | None = None  # "code" | "nearest"
    memory_trainable: bool | None = None  # memories as parameters (paper's "updatable memory")
    losses: str = "kd+ot+con+se"  # the terms trained on (Table 6 rows: "kd+ot", "kd+con", ...)
    ot_mode: str | None = None  # "code" | "paper"
    ot_blur: float = 0.05
    ot_scaling: float = 0.95
    ot_reach: float | None = None  # None: balanced (as coded); the paper's "unbalanced" ρ is not given
    ot_diameter: float = 1e7  # the code's; 0 = geomloss's estimate from the data (same value, ~10× faster on a CPU)
    ot_pool: int = 16  # paper OT: positions pooled to at most ot_pool × ot_pool per level
    con_margin: float = 0.5  # θ of Eq. 10 (the code's CosineEmbeddingLoss margin)
    con_reduce: str | None = None  # "sum" | "mean" over levels
    se_mode: str | None = None  # "code" | "paper"
    se_margin: float = 1.0  # η of Eq. 11
    alpha: float = 0.2  # Eq. 8
    mu: float = 0.1
    tau: float = 0.1
    min_lr: float = 1e-4
    warmup_ratio: float = 0.1
    score_topk: int | None = 100  # image score: mean of the 100 largest map values
    synthetic_input: str = "target"  # the fed image (clean or synthetic) is the KD target
    synthetic_probability: float = 0.5  # with alternate=False: fraction of synthetic draws


def loss_terms(spec: str) -> tuple[str, ...]:
    """``"kd+con"`` → ``("kd", "con")`` in canonical order; unknown terms and a missing ``kd`` are errors."""
    terms = {t.strip() for t in str(spec).split("+") if t.strip()}
    unknown = sorted(terms - set(LOSS_TERMS))
    if unknown or "kd" not in terms:
        raise ValueError(f"losses must be 'kd' plus any of ot, con, se joined by '+' (e.g. 'kd+ot+con+se'), "
                         f"got {spec!r}")
    return tuple(t for t in LOSS_TERMS if t in terms)


def resolve_mode(config: DMGRDConfig) -> DMGRDConfig:
    """The config with every ``None`` preset field set from its ``mode``."""
    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
    preset = PRESETS[config.mode]
    return replace(config, **{k: v for k, v in preset.items() if getattr(config, k) is None})


def warmup_cosine(step: int, total: int, warmup_ratio: float, max_lr: float, min_lr: float) -> float:
    """LR at 0-based ``step``: min→max linearly over ⌊total·ratio⌋ steps, then cosine back to min."""
    warm = int(total * warmup_ratio)
    if step < warm:
        return min_lr + (max_lr - min_lr) * step / warm
    span = max(total - warm, 1)
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * min(step - warm, span) / span)) / 2


@register("dm_grd", DMGRDConfig)
class DMGRD(ReverseDistillation):
    """RD4AD + dual memory + MSFF + three extra losses (see the module docstring)."""

    extra_fpr_limits = (1.0,)  # evaluations also report the full-range PRO the code calls "PRO" (aupro_fpr1)

    def __init__(self, config: DMGRDConfig | None = None):
        config = resolve_mode(config or DMGRDConfig())
        terms = loss_terms(config.losses)
        checks = {"memory_select": (config.memory_select, SELECTIONS), "ot_mode": (config.ot_mode, L.MODES),
                  "se_mode": (config.se_mode, L.MODES), "con_reduce": (config.con_reduce, L.REDUCTIONS),
                  "synthesis": (config.synthesis, ("code", "paper"))}
        for key, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {value!r}")
        if config.synthetic_input != "target":
            raise ValueError("DM-GRD feeds the synthetic image and distils its own features: synthetic_input='target'")
        if int(config.memory_size) < 1:
            raise ValueError(f"memory_size must be >= 1, got {config.memory_size}")
        super().__init__(config)
        self.terms = terms
        self.msff = MSFF(self.teacher.channels)  # PyTorch's default init, not RD's (built after OCBE/decoder)
        self.memory = DualMemory(len(self.teacher.channels), bool(config.memory_trainable))
        self.loss_weights = {"kd": 1.0, "ot": config.alpha, "con": config.alpha * config.mu, "se": config.tau}

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Preset fields equal to their mode's value are dropped (an explicit ``memory_select: code``
        under ``mode: code`` is the default run), ``losses`` is put in canonical order, and the
        settings of terms that are not trained on are dropped."""
        config = super().canonical_config(config)
        preset = PRESETS.get(config.get("mode", "code"), {})
        config = {k: v for k, v in config.items() if not (k in preset and (v is None or v == preset[k]))}
        if "losses" in config:
            terms = loss_terms(config["losses"])
            config["losses"] = "+".join(terms)
            config = {k: v for k, v in config.items()
                      if not any(k in TERM_FIELDS[t] for t in TERM_FIELDS if t not in terms)}
        return config

    # -- data: Fourier + Perlin, alternating, the fed image is the target -------------------------
    def synthesis(self, category: str | None = None):
        """Fourier + Perlin in the configured mode, texture source and β (``(strategy, needs_source)``)."""
        from adlib.synthesis import build_strategy

        cfg = self.config
        strategy = build_strategy("fourier_perlin", texture_source=cfg.texture_source, mode=cfg.synthesis, beta=cfg.beta)
        return strategy, strategy.needs_source

    def prepare_data(self, train, *, category: str | None = None, seed: int = 0) -> FitData:
        """The training set with every other draw synthetic (``alternate``) or a random fraction."""
        from adlib.synthesis import SyntheticAnomalies

        strategy, needs_source = self.synthesis(category)
        return FitData(SyntheticAnomalies(train, strategy, probability=self.config.synthetic_probability, seed=seed,
                                          needs_source=needs_source, alternate=self.config.alternate))

    # -- memory ----------------------------------------------------------------------------------
    @torch.no_grad()
    def build_memory(self, train_data, seed: int | None = None, batch_size: int = 8) -> dict:
        """Fill both banks (§4.2): L = ``memory_size`` random clean training images and, drawn again,
        L synthetic ones (the training strategy, a separate seed stream). ``train_data``: the clean set
        or :meth:`prepare_data`'s wrapper (its seed is the default). Returns the chosen indices."""
        from adlib.synthesis import SyntheticAnomalies

        base = getattr(train_data, "base", train_data)
        seed = int(getattr(train_data, "seed", 0) if seed is None else seed)
        n, size = len(base), int(self.config.memory_size)
        if size > n:
            warnings.warn(f"dm_grd: memory_size {size} > {n} training images; using {n}", stacklevel=3)
            size = n
        rng = np.random.default_rng([seed, MEMORY_STREAM])
        normal_idx, abnormal_idx = rng.permutation(n)[:size], rng.permutation(n)[:size]
        if isinstance(train_data, SyntheticAnomalies):
            strategy, needs_source = train_data.synthesize, train_data.needs_source
        else:
            strategy, needs_source = self.synthesis()
        synth_seed = int(np.random.SeedSequence([seed, MEMORY_STREAM]).generate_state(1)[0])
        synth = SyntheticAnomalies(base, strategy, probability=1.0, seed=synth_seed, needs_source=needs_source)
        clean = [base[int(i)]["image"] for i in normal_idx]
        abnormal = [synth[(int(i), 0)]["aug_image"] for i in abnormal_idx]
        was_training = self.training
        self.eval()
        try:
            for bank, images, idx in ((self.memory.normal, clean, normal_idx), (self.memory.abnormal, abnormal, abnormal_idx)):
                feats = [self.teacher_features(torch.stack(images[i:i + batch_size]).to(self.device))
                         for i in range(0, len(images), batch_size)]
                bank.fill([torch.cat(level) for level in zip(*feats)], idx)
        finally:
            self.train(was_training)
        return {"normal": normal_idx.tolist(), "abnormal": abnormal_idx.tolist()}

    def on_fit_start(self, ctx) -> None:
        """Build the memory banks from the training set before the first step (resuming reloads them)."""
        with torch.autocast(ctx.device.type, enabled=False):
            self.build_memory(ctx.train_data)

    def select_k(self) -> int:
        return topk_size(len(self.memory), self.teacher.channels)

    # -- RD seams --------------------------------------------------------------------------------
    def bottleneck_input(self, batch: dict, record) -> list[torch.Tensor]:
        """Eqs. 6–7: normal-bank MI → MSFF → the OCBE's input; in training also the abnormal branch
        (same query, the other bank, the same MSFF, run after the normal one as in the code)."""
        rule, k = self.config.memory_select, self.select_k()
        items, diff, mi = select(self.memory.normal, record.teacher, rule, k)
        normal = self.msff(mi)
        record.extras.update(items_normal=items, diff_normal=diff, msff_normal=normal)
        if record.training:
            items, diff, mi = select(self.memory.abnormal, record.teacher, rule, k)
            record.extras.update(items_abnormal=items, diff_abnormal=diff, msff_abnormal=self.msff(mi))
        return normal

    def extra_losses(self, batch: dict, record) -> dict:
        """L_OT, L_Con, L_SE (those named in ``losses``), unweighted, in float32 (Eqs. 9–11)."""
        cfg, ex, out = self.config, record.extras, {}
        with torch.autocast(record.teacher[0].device.type, enabled=False):
            if "ot" in self.terms:
                kw = dict(blur=cfg.ot_blur, scaling=cfg.ot_scaling, reach=cfg.ot_reach, diameter=cfg.ot_diameter or None)
                out["ot"] = (L.ot_code(ex["msff_normal"], **kw) if cfg.ot_mode == "code"
                             else L.ot_paper(ex["msff_normal"], pool=cfg.ot_pool, **kw))
            if "con" in self.terms:
                out["con"] = L.con_loss(ex["msff_abnormal"], ex["msff_normal"], cfg.con_margin, cfg.con_reduce)
            if "se" in self.terms:
                normal, abnormal = self.memory.normal.maps, self.memory.abnormal.maps
                out["se"] = (L.se_code(normal, ex["diff_normal"], abnormal, ex["diff_abnormal"], cfg.se_margin)
                             if cfg.se_mode == "code" else
                             L.se_paper(record.teacher, normal, ex["items_normal"], abnormal, ex["items_abnormal"],
                                        _synthetic_flags(batch), cfg.se_margin))
        return out

    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        """RD's Adam over everything trainable (OCBE, decoder, MSFF, trainable memories) with the
        warm-up + cosine schedule per step (:func:`warmup_cosine`; none when ``total_steps`` is unknown)."""
        opt = super().configure_optimizer(total_steps, steps_per_epoch)
        if not total_steps:
            return opt
        cfg = self.config
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: warmup_cosine(i, int(total_steps), cfg.warmup_ratio, cfg.lr, cfg.min_lr) / cfg.lr)
        return {"optimizer": opt, "scheduler": sched, "interval": "step"}


def _synthetic_flags(batch: dict) -> torch.Tensor | None:
    flags = batch.get("augmented")
    return None if flags is None else torch.as_tensor(flags)
