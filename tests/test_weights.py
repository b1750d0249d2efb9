"""Pretrained weights (cnnzoo.weights): files named and hashed as torchvision names them, generated
here from torchvision's own models with random weights (no network)."""
from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision

import cnnzoo
from cnnzoo.errors import CheckpointError, CnnzooError, OptionError, UnknownNameError
from cnnzoo.weights import FILES, imagenet_classes, weights_info


def _torchvision_file(folder, model_name="resnet18"):
    """A torchvision model with random weights, saved under torchvision's naming scheme."""
    torch.manual_seed(0)
    extra = {"init_weights": False} if model_name == "googlenet" else {}  # its init is slow
    tv = getattr(torchvision.models, model_name)(weights=None, **extra).eval()
    tmp = folder / "tmp.pth"
    torch.save(tv.state_dict(), tmp)
    prefix = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    path = folder / f"{model_name}-{prefix}.pth"
    tmp.rename(path)
    return tv, path


def test_loads_a_torchvision_file_with_the_same_outputs(tmp_path):
    tv, path = _torchvision_file(tmp_path)
    ours = cnnzoo.create_model("resnet18", weights=path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))
    assert not ours.training and ours.zoo_weights["file"] == "resnet18-f37072fd.pth"


def test_wrong_hash_is_refused(tmp_path):
    _, path = _torchvision_file(tmp_path)
    bad = tmp_path / "resnet18-00000000.pth"
    bad.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match=r"SHA-256 starts .* expected 00000000"):
        cnnzoo.create_model("resnet18", weights=bad)


def test_missing_file_names_the_file_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(CheckpointError) as e:
        cnnzoo.create_model("resnet50", weights="torchvision")
    message = str(e.value)
    assert "resnet50-0676ba61.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_hub_cache_file_with_wrong_content_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, path = _torchvision_file(tmp_path)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    path.rename(tmp_path / "hub" / "checkpoints" / FILES["resnet18"])
    with pytest.raises(CheckpointError, match="f37072fd"):
        cnnzoo.create_model("resnet18", weights="torchvision")


def test_pickled_code_is_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickled code ran')",))

    tmp = tmp_path / "x.pth"
    torch.save({"a": Boom()}, tmp)
    path = tmp_path / f"resnet18-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(path)
    with pytest.raises(CheckpointError, match="cannot read"):
        cnnzoo.create_model("resnet18", weights=path)


def test_bad_requests_are_one_line_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="no torchvision weights for model 'lenet5'"):
        cnnzoo.create_model("lenet5", weights="torchvision")
    with pytest.raises(OptionError, match="num_classes"):
        cnnzoo.create_model("resnet18", weights="torchvision", num_classes=10)
    with pytest.raises(CheckpointError, match="no weights file"):
        cnnzoo.create_model("resnet18", weights=tmp_path / "absent.pth")
    with pytest.raises(CnnzooError):
        cnnzoo.create_model("resnet18", weights=3)


def test_weights_info_carries_the_preprocessing_and_classes():
    info = weights_info("resnet50")
    assert info.file == "resnet50-0676ba61.pth" and info.sha256_prefix == "0676ba61"
    assert (info.resize, info.crop) == (256, 224) and info.mean == (0.485, 0.456, 0.406)
    classes = imagenet_classes()
    assert len(classes) == 1000 == len(set(classes))
    assert list(classes) == list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    for name, file in FILES.items():  # every file name is torchvision's, and every model exists
        assert cnnzoo.model_info(name).num_classes == 1000 and file.endswith(".pth")


def test_file_names_are_torchvisions():
    for name, file in FILES.items():
        weights = torchvision.models.get_model_weights(name.removesuffix("_tv")).IMAGENET1K_V1
        assert weights.url.rsplit("/", 1)[1] == file


def test_googlenet_weights_come_with_torchvisions_input_transform(tmp_path):
    tv, path = _torchvision_file(tmp_path, "googlenet")
    tv.transform_input = True  # what torchvision sets when it loads these weights
    ours = cnnzoo.create_model("googlenet_tv", weights=path)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))


def test_predict_with_pretrained_weights_uses_their_preprocessing_and_classes(tmp_path, capsys):
    """`cnnzoo predict --model resnet18 --weights FILE photo.jpg`: torchvision's model on
    torchvision's evaluation transforms gives the same top classes, named from ImageNet."""
    import json
    from pathlib import Path

    from torchvision.models import ResNet18_Weights

    from cnnzoo.cli import main
    from cnnzoo.inference.pipeline import InputPipeline
    from cnnzoo.inference.run import load_run

    tv, path = _torchvision_file(tmp_path)
    photo = next(p for p in (Path(cnnzoo.__file__).parent / "examples").iterdir()
                 if p.suffix.lower() in (".jpg", ".jpeg"))
    run = load_run(model="resnet18", weights=path)
    reference = InputPipeline.for_torchvision(ResNet18_Weights.IMAGENET1K_V1)
    assert run.pipeline.to_meta() == reference.to_meta() and not run.random
    with torch.no_grad():
        expected = torch.softmax(tv(reference.load_image(photo).tensor), dim=1)[0].topk(3)
    assert main(["predict", "--model", "resnet18", "--weights", str(path), str(photo),
                 "--top", "3", "--format", "json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert [t["index"] for t in top] == expected.indices.tolist()
    assert [t["class"] for t in top] == [imagenet_classes()[i] for i in expected.indices.tolist()]


def test_weights_with_a_run_folder_is_one_line():
    from cnnzoo.inference.run import load_run

    with pytest.raises(OptionError, match="--weights goes with --model"):
        load_run("runs/x", weights="torchvision")
