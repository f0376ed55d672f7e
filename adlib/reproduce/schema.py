"""Table configs: the YAML format, its schema, and shared profiles.

A table (``adlib/configs/<paper>/<table>.yaml``) lists the cells of a paper table::

    paper: rd_variance_loss
    table: IV
    notebook: 01_rd_variance_loss.ipynb
    method: {name: rd_var}           # the method run_experiment builds (+ config overrides for every profile)
    profiles:                        # the profiles this table offers (names in profiles.yaml) + overrides
      full:                          # = the shared profile "full"
      small: {fit: {epochs: 10}}     # the shared "small", with 10 epochs
      quick: mrkd_quick              # another shared profile under this table's name
      mine: {extends: small, data: {categories: [mtd]}, grid: {lambda_var: [0.1]}}
    grid: {batch_size: [4, 8, 16, 32]}   # the table's axes (a profile may replace them with its own grid)
    seeds: [0]
    metrics: [image_auroc, spro.mean.0.05]   # optional: the report's rows (nested values by dots)

Each profile (shared in ``adlib/configs/profiles.yaml`` or a table's) has the sections ``data``,
``method``, ``fit`` and ``eval`` (:data:`SECTIONS`); a table may also give them at its top level (for
all its profiles). Merge order, later wins: shared profile (its ``extends`` chain first), the table's
top-level sections, the table's profile overrides, the grid axis. A ``null`` value unsets a key.
``data``, ``fit`` and ``eval`` keys are the fields of :class:`DataSettings`, :class:`FitSettings` and
:class:`EvalSettings`; ``method`` keys are ``name`` and the fields of the method's config dataclass
(:func:`adlib.methods.config_class`). Grid axes are named by their key alone (``batch_size``,
``lambda_var``, ``method``: the method's name, ``variant``: an evaluation variant).
Unknown profiles and keys are errors naming them and the file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from pathlib import Path


class ConfigError(ValueError):
    """A table config or profile that does not follow the schema."""


@dataclass(frozen=True)
class DataSettings:
    """``data:`` what the cells train and test on."""

    dataset: str | None = None
    categories: list | None = None  # one cell per category
    image_size: int | None = None
    root: str | None = None  # data root (default: $ADLIB_DATA)
    mask_interpolation: str | None = None  # how test masks are resized: nearest | bilinear


@dataclass(frozen=True)
class FitSettings:
    """``fit:`` the training schedule (:func:`adlib.engine.fit`)."""

    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    ckpt_selection: str | None = None  # last | best_val (needs val_split) | best_on_test (inflating: the papers' code)
    val_split: str | None = None  # a split of the category to validate on (e.g. LOCO's "validation")
    device: str | None = None
    eval_every: int | None = None  # validate every N steps (checkpoint selection)
    selection_metric: str | None = None  # "image_auroc", or "a+b+c" (their mean); default: fit's "auto"


@dataclass(frozen=True)
class EvalSettings:
    """``eval:`` the evaluation protocol (:func:`adlib.engine.evaluate_method`)."""

    aupro_mode: str | None = None  # mvtec | rd4ad_legacy | daf_legacy
    fpr_limit: float | None = None  # AU-PRO integration limit
    image_score: str | None = None  # "max" | "topk_mean:K" (adlib.methods.common.ImageScore)


@dataclass(frozen=True)
class TableConfig:
    """The top-level keys of a table config (``method``: the method section, ``name`` required)."""

    paper: str
    table: str
    method: dict
    profiles: dict
    grid: dict
    title: str | None = None
    notebook: str | None = None
    notebook_parameters: dict | None = None  # notebook-only switches, not part of the tag
    main_variant: str | None = None  # the variant that is the run's own metrics
    metrics: list | None = None  # the report's metrics for this table (default: report.DEFAULT_METRICS);
    # nested values by dots, e.g. spro.mean.0.05, loco_image_auroc.mean
    seeds: list | None = None
    timeout_s: float | None = None
    data: dict | None = None
    fit: dict | None = None
    eval: dict | None = None


SETTINGS = {"data": DataSettings, "fit": FitSettings, "eval": EvalSettings}
SECTIONS = ("data", "method", "fit", "eval")
PROFILE_KEYS = (*SECTIONS, "extends")  # a shared profile's keys; a table's profile may add "grid"
SPECIAL_AXES = ("method", "variant")
PROFILES_FILE = "profiles.yaml"


def _names(cls) -> list[str]:
    return [f.name for f in fields(cls)]


def _check_keys(keys, known, where: str) -> None:
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown key{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(known)})")


def _check_sections(layer: dict, where: str) -> None:
    """The ``data`` / ``fit`` / ``eval`` keys of a profile layer are fields of their settings dataclass."""
    for sec, cls in SETTINGS.items():
        _check_keys(layer.get(sec) or {}, _names(cls), f"{where}, section {sec!r}")


def config_dir() -> Path:
    """The package's table configs (``adlib/configs``)."""
    from adlib.paths import resource_dir

    return resource_dir("configs")


def _read_yaml(path: Path) -> dict:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - papermill (notebooks extra) brings PyYAML
        raise ImportError("reading table configs needs PyYAML: pip install -e '.[notebooks]'") from exc
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}; "
                          "fix the file (a table config is a YAML mapping, see adlib/configs/)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); "
                          "is it really a table config?") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@functools.lru_cache(maxsize=8)
def _shared(path: str, mtime: float) -> dict:
    profiles = _read_yaml(Path(path))
    for name, prof in profiles.items():
        if not isinstance(prof, dict):
            raise ConfigError(f"{path}: profile {name!r} must be a mapping of sections")
        _check_keys(prof, PROFILE_KEYS, f"{path}: profile {name!r}")
        _check_sections(prof, f"{path}: profile {name!r}")
    return profiles


def shared_profiles(path: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """``(file, {name: profile})`` of the shared profiles (default: ``adlib/configs/profiles.yaml``)."""
    p = Path(path) if path is not None else config_dir() / PROFILES_FILE
    if not p.is_file():
        raise FileNotFoundError(f"shared profiles not found: {p}")
    return p, _shared(str(p.resolve()), p.stat().st_mtime)


def source_of(cfg: dict) -> str:
    """How errors name a config: its file, else ``config <paper>/<table>``."""
    return cfg.get("_source") or f"config {cfg.get('paper')}/{cfg.get('table')}"


def profile_names(cfg: dict) -> list[str]:
    """The profiles a table offers (``adlib reproduce --profile NAME``)."""
    return list(cfg.get("profiles") or {})


def validate_table(cfg: dict) -> dict:
    """Check a table config's keys, every profile it offers and its grid axes; returns ``cfg``."""
    src = source_of(cfg)
    _check_keys([k for k in cfg if not k.startswith("_")], _names(TableConfig), src)
    for key in ("paper", "table", "method", "profiles", "grid"):
        if key not in cfg:
            raise ConfigError(f"{src}: missing key {key!r}")
    from adlib.data.folder import is_safe_name

    if not isinstance(cfg["paper"], str) or not is_safe_name(cfg["paper"]):
        raise ConfigError(f"{src}: paper {cfg['paper']!r} names the results folder: use a plain name "
                          "(no '/', '..' or leading '.')")
    if not isinstance(cfg["method"], dict) or "name" not in cfg["method"]:
        raise ConfigError(f"{src}: 'method' must be a mapping with the method's 'name' (e.g. method: {{name: rd}})")
    if not isinstance(cfg["profiles"], dict) or not cfg["profiles"]:
        raise ConfigError(f"{src}: 'profiles' must map the table's profile names to shared profiles / overrides")
    _check_sections(cfg, src)
    for name in cfg["profiles"]:
        resolve_profile(cfg, name)
    return cfg


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a table config (a path, or a name under ``adlib/configs`` such as ``mrkd/table5``)."""
    path = find_config(path)
    cfg = _read_yaml(path)
    cfg["_source"] = str(path)
    return validate_table(cfg)


@dataclass
class Profile:
    """A table's profile, resolved: merged sections, the grid, and where each key was set."""

    name: str
    sections: dict  # {"data": {...}, "method": {"name": ..., ...}, "fit": {...}, "eval": {...}}
    grid: dict
    origin: dict  # {(section, key): "where it was set"}

    def check_method(self, method: str, config: dict, where: dict | None = None) -> None:
        """Every ``config`` key must be a field of ``method``'s config dataclass."""
        from adlib import methods

        if method not in methods.available():
            raise ConfigError(f"{self.origin.get(('method', 'name'), '?')}: unknown method {method!r} "
                              f"(known: {', '.join(methods.available())})")
        known = _names(methods.config_class(method))
        for key in config:
            if key not in known:
                at = (where or {}).get(key) or self.origin.get(("method", key), "?")
                raise ConfigError(f"{at}: {key!r} is not a setting of method {method!r} "
                                  f"({methods.config_class(method).__name__} has: {', '.join(known)})")


def _merge(sections: dict, origin: dict, layer: dict, where: str) -> None:
    for sec in SECTIONS:
        for key, value in (layer.get(sec) or {}).items():
            if value is None:
                sections[sec].pop(key, None)
            else:
                sections[sec][key] = value
            origin[(sec, key)] = f"{where}, section {sec!r}"


def _shared_chain(name: str, shared: dict, file: Path, wanted_by: str, seen=()) -> list[tuple[dict, str]]:
    if name not in shared:
        raise ConfigError(f"{wanted_by}: unknown profile {name!r} (shared profiles in {file}: {', '.join(shared)})")
    if name in seen:
        raise ConfigError(f"{file}: profile {name!r} extends itself ({' -> '.join((*seen, name))})")
    prof = shared[name]
    where = f"{file}: profile {name!r}"
    base = prof.get("extends")
    chain = _shared_chain(base, shared, file, where, (*seen, name)) if base is not None else []
    return chain + [(prof, where)]


def resolve_profile(cfg: dict, name: str, shared_file: str | os.PathLike | None = None) -> Profile:
    """Merge a table's profile ``name`` (see the module docstring for the order)."""
    src = source_of(cfg)
    _check_keys([k for k in cfg if not k.startswith("_")], _names(TableConfig), src)
    table_profiles = cfg.get("profiles") or {}
    if name not in table_profiles:
        raise ConfigError(f"{src}: no profile {name!r} (this table has: {', '.join(table_profiles) or 'none'})")
    entry = table_profiles[name]
    entry = {"extends": entry} if isinstance(entry, str) else {"extends": name} if entry is None else entry
    if not isinstance(entry, dict):
        raise ConfigError(f"{src}: profile {name!r} must be a shared profile's name or a mapping of overrides")
    where = f"{src}: profile {name!r}"
    _check_keys(entry, (*PROFILE_KEYS, "grid"), where)
    _check_sections(entry, where)
    base = entry.get("extends", name)
    layers = []
    if base is not None:
        file, shared = shared_profiles(shared_file)
        layers = _shared_chain(base, shared, file, where)
    layers += [(cfg, src), (entry, where)]
    sections, origin = {sec: {} for sec in SECTIONS}, {}
    for layer, at in layers:
        _merge(sections, origin, layer, at)
    grid = entry.get("grid") or cfg.get("grid") or {}  # a profile may replace the table's axes
    for key, values in grid.items():
        if key in ("categories", "seed"):
            raise ConfigError(f"{src}: grid key {key!r}: categories and seeds are set by data.categories and seeds")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{src}: grid key {key!r} must list its values (e.g. {key}: [a, b]), got {values!r}")
    prof = Profile(name, sections, grid, origin)
    method = sections["method"].get("name")
    methods_run = grid.get("method") or [method]
    config = {k: v for k, v in sections["method"].items() if k != "name"}
    axes = {k: f"{src}: grid" for k in grid if axis_section(k) == "method"}
    for m in methods_run:
        prof.check_method(m, {**config, **dict.fromkeys(axes)}, axes)
    return prof


def axis_section(key: str) -> str | None:
    """The section a grid axis sets: ``data``/``fit``/``eval`` by their fields, else ``method``;
    None for the special axes ``method`` (the method's name) and ``variant`` (an evaluation variant)."""
    if key in SPECIAL_AXES:
        return None
    for sec, cls in SETTINGS.items():
        if key in _names(cls):
            return sec
    return "method"


def find_config(spec: str | os.PathLike) -> Path:
    """A table config: a file path, else a name under ``adlib/configs`` (``mrkd/table5``, with or without ``.yaml``)."""
    p = Path(spec).expanduser()
    if p.is_file():
        return p
    root = config_dir()
    for cand in (root / p, root / p.with_suffix(".yaml")):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"table config not found: {spec} (not a file, nor a name under {root}: "
                            f"e.g. {', '.join(str(c.relative_to(root).with_suffix('')) for c in table_configs()[:3])})")


def find_configs(spec: str | os.PathLike) -> list[Path]:
    """Table configs named by a file, a folder of them, or a name under ``adlib/configs`` (``mrkd``: all its tables)."""
    p = Path(spec).expanduser()
    for cand in (p, config_dir() / p):
        if cand.is_dir():
            return table_configs(cand)
    return [find_config(spec)]


def table_configs(root: str | os.PathLike | None = None) -> list[Path]:
    """Every table config under ``root`` (default: the package's), the shared profiles file excluded."""
    root = Path(root) if root is not None else config_dir()
    return sorted(p for p in root.rglob("*.yaml") if p.name != PROFILES_FILE)
