"""Evaluation variants in one pass over the test set (issue 22 point 2).

``evaluate_method(..., variants=)`` predicts every variant batch by batch (``predict_variants``)
and must give exactly what one ``evaluate_method`` per variant under ``override_config`` gave:
the shared work (teacher, decoder, each distinct FLM pass's per-level maps) is the same
computation on the same inputs, reused, so maps are compared bit for bit (``torch.equal``) and
metrics with ``==``.
"""

from __future__ import annotations

import pytest
import torch

from adlib.data.mvtec import MVTecAD
from adlib.engine import evaluate_method
from adlib.experiment import evaluate_variants
from adlib.methods import build

from conftest import make_mvtec_category

EVAL = {"batch_size": 4, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    make_mvtec_category(root, size=64, n_train=4, n_good=3, defects={"scratch": 3, "dent": 1})
    return root


@pytest.fixture(scope="module")
def mrkd():
    torch.manual_seed(0)
    return build("mrkd", backbone="efficientnet_lite0", weights="random").eval()


def split_of(root, model):
    return MVTecAD(root, "widget", "test", image_size=64, normalize=model.input_spec, cache=True)


def per_variant(model, test, variants: dict) -> dict:
    """The old way: one whole ``evaluate_method`` per variant under its overrides."""
    out = {}
    for name, overrides in variants.items():
        with model.override_config(**overrides):
            out[name] = evaluate_method(model, test, return_maps=True, **EVAL)
    return out


def assert_same(one_pass, old):
    assert set(one_pass) == set(old)
    for name in old:
        assert torch.equal(one_pass[name].maps, old[name].maps), name
        assert torch.equal(one_pass[name].scores, old[name].scores), name
        assert one_pass[name].summary() == old[name].summary(), name
        assert one_pass[name].protocol["image_score"] == old[name].protocol["image_score"], name


def test_mrkd_variants_in_one_pass_equal_one_evaluation_each(root, mrkd):
    variants = mrkd.evaluation_variants()
    assert set(variants) == {"SM1", "SM2", "SM3", "SM1&2", "SM2&3", "flm_avg5",
                             "flm_seed1", "flm_seed2", "flm_seed3", "flm_seed4"}
    test = split_of(root, mrkd)
    ev = evaluate_method(mrkd, test, return_maps=True, variants=variants, **EVAL)
    assert_same(ev.variants, per_variant(mrkd, test, variants))
    alone = evaluate_method(mrkd, test, return_maps=True, **EVAL)
    assert torch.equal(ev.maps, alone.maps) and ev.summary() == alone.summary()
    # the variants differ from the main map (a shared pass keyed too coarsely would make them equal)
    assert not torch.equal(ev.variants["flm_seed1"].maps, ev.maps)
    assert not torch.equal(ev.variants["flm_avg5"].maps, ev.maps)
    assert not torch.equal(ev.variants["SM1"].maps, ev.maps)
    # the public record: {name: {"overrides", "metrics"}}, main model left out
    rec = evaluate_variants(mrkd, test, **EVAL)
    assert rec == {name: {"overrides": ov, "metrics": ev.variants[name].summary()} for name, ov in variants.items()}


def test_mrkd_teacher_runs_once_per_batch_for_all_variants(root, mrkd):
    test = split_of(root, mrkd)
    calls = {"teacher": 0, "decoder": 0, "generation": 0}
    hooks = [mrkd.teacher.register_forward_hook(lambda *a: calls.__setitem__("teacher", calls["teacher"] + 1)),
             mrkd.decoder.register_forward_hook(lambda *a: calls.__setitem__("decoder", calls["decoder"] + 1)),
             mrkd.generation[0].register_forward_hook(
                 lambda *a: calls.__setitem__("generation", calls["generation"] + 1))]
    try:
        evaluate_method(mrkd, test, variants=mrkd.evaluation_variants(), **EVAL)
    finally:
        for h in hooks:
            h.remove()
    batches = -(-len(test) // EVAL["batch_size"])
    assert batches == 2
    assert calls["teacher"] == batches and calls["decoder"] == batches
    # distinct FLM passes per batch: seed 0 passes 0-4 (main, SM*, flm_avg5) + seeds 1-4 pass 0
    assert calls["generation"] == 9 * batches


def test_rd_variants_that_change_the_forward_are_predicted_alone(mrkd):
    """A variant overriding a field outside COMPOSE_FIELDS gets its own ``predict``; order is kept."""
    g = torch.Generator().manual_seed(1)
    batch = {"image": torch.randn(2, 3, 64, 64, generator=g), "path": ["test/a/000.png", "test/a/001.png"]}
    variants = {"own": {"eval_variants": False}, "SM2": {"score_levels": (1,)},
                "seed7": {"flm_seed": 7, "flm_passes": 2}}
    assert_predict_variants_match(mrkd, batch, variants)


def assert_predict_variants_match(model, batch, variants):
    """``predict_variants`` == one ``predict`` per variant under its overrides, in the variants' order."""
    out = model.predict_variants(batch, variants)
    assert list(out) == list(variants)
    for name, overrides in variants.items():
        with model.override_config(**overrides):
            ref = model.predict(batch)
        assert torch.equal(out[name].maps, ref.maps) and torch.equal(out[name].scores, ref.scores), name
        assert all(torch.equal(out[name].parts[k], ref.parts[k]) for k in ref.parts), name


@pytest.mark.parametrize("name", ["daf", "efficientad", "mhkd"])
def test_other_methods_variants_in_one_pass(root, name, tmp_path):
    """Methods that compose their variants from one forward (``COMPOSE_FIELDS``): the same numbers
    as one ``predict`` per variant, and the forward runs once per batch for all of them."""
    from test_method_contract import small, started

    model = started(small(name), tmp_path).eval()
    variants = model.evaluation_variants()
    assert variants and all(set(ov) <= set(model.COMPOSE_FIELDS) for ov in variants.values())
    test = split_of(root, model)
    calls = []
    orig = model.forward_parts
    model.forward_parts = lambda batch: calls.append(1) or orig(batch)
    try:
        ev = evaluate_method(model, test, return_maps=True, variants=variants, **EVAL)
    finally:
        del model.forward_parts
    assert len(calls) == -(-len(test) // EVAL["batch_size"])  # one forward per batch, main run and variants
    assert_same(ev.variants, per_variant(model, test, variants))
    alone = evaluate_method(model, test, return_maps=True, **EVAL)
    assert torch.equal(ev.maps, alone.maps) and ev.summary() == alone.summary()


def test_variants_outside_the_compose_fields_are_predicted_alone(tmp_path):
    from test_method_contract import small, started

    model = started(small("daf"), tmp_path).eval()
    g = torch.Generator().manual_seed(1)
    batch = {"image": torch.randn(2, 3, 64, 64, generator=g)}
    variants = {"seg": {"score_map": "segmentation"}, "other": {"eval_variants": False}}
    assert_predict_variants_match(model, batch, variants)
