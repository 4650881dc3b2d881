"""Backbones load offline from real weight files; missing or wrong weights give one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from seqcore_train.errors import BackboneUnavailable
from seqcore_train.model.efficientnet_lite import (
    INPUT_MEAN,
    INPUT_STD,
    EfficientNetLite0,
    lite0_weights_path,
)
from seqcore_train.model.features import BACKBONES, FeatureExtractor


@pytest.fixture(scope="module")
def lite0():
    return FeatureExtractor()


def _photo(name: str) -> torch.Tensor:
    """A real photograph (scikit-learn ships two) as (1, 3, H, W) in [0, 1]."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    photo = torch.from_numpy(sklearn_datasets.load_sample_image(name).copy())
    return photo.permute(2, 0, 1).float()[None] / 255


def _lite0() -> EfficientNetLite0:
    model = EfficientNetLite0()
    state = torch.load(lite0_weights_path(), weights_only=True, map_location="cpu")
    model.load_state_dict(state, strict=True)
    return model.eval()


def _classify(model, x, mean, std) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (mean, std))
    with torch.no_grad():
        return model((x - mean) / std)[0].softmax(0)


def test_lite0_weights_load_strictly_and_classify_real_photos():
    """ImageNet evaluation crops of two real photos. Fed as trained (TF padding and
    (x * 255 - 127) / 128) the network is sure of the daisy; with ImageNet's mean/std it is not."""
    import torchvision.transforms.v2.functional as TF

    model = _lite0()
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    crops = {
        name: TF.center_crop(TF.resize(_photo(name), [256], antialias=True), [224, 224])
        for name in ("china.jpg", "flower.jpg")
    }
    temple = _classify(model, crops["china.jpg"], INPUT_MEAN, INPUT_STD)
    names = {categories[i] for i in temple.topk(3).indices.tolist()}
    # A temple with a bell tower in front of hills: an untrained network would not say this.
    assert names & {"bell cote", "palace", "monastery", "church", "pagoda", "dome"}
    daisy = categories.index("daisy")
    as_trained = _classify(model, crops["flower.jpg"], INPUT_MEAN, INPUT_STD)
    imagenet = _classify(model, crops["flower.jpg"], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert int(as_trained.argmax()) == daisy
    assert float(as_trained[daisy]) > 1.5 * float(imagenet[daisy])  # measured 0.27 vs 0.12


@pytest.mark.parametrize("size", [(64, 96), (97, 130), (128, 128), (75, 61)])
def test_lite0_features_equal_the_reference_package(size):
    """blocks.4 / blocks.10 equal those of the `efficientnet-lite-pytorch` package, which pads
    "same" as TensorFlow does, on random and on real images of odd and even sizes."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch")
    reference = reference_package.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=lite0_weights_path(), image_size=size
    ).eval()
    ours = FeatureExtractor(pool_kernel=1)
    photo = torch.nn.functional.interpolate(
        _photo("flower.jpg"), size=size, mode="bilinear", antialias=True
    )
    noise = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(5))
    images = torch.cat([photo, noise])
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (INPUT_MEAN, INPUT_STD))
    with torch.no_grad():
        x = (images - mean) / std
        x = reference._swish(reference._bn0(reference._conv_stem(x)))
        expected = {}
        for i, block in enumerate(reference._blocks[:11]):
            x = block(x)
            expected[f"blocks.{i}"] = x
    for name, value in ours.stage_maps(images).items():
        assert value.shape == expected[name].shape
        assert float((value - expected[name]).abs().max()) <= 1e-4, name


def test_lite0_features_shape_and_config(lite0):
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    feats = lite0(images)
    assert feats.shape == (2, 152, 8, 12)
    assert lite0.feature_dim == 152 and lite0.patch_stride() == 8
    assert lite0.config()["layers"] == ["blocks.4", "blocks.10"]
    assert torch.equal(lite0(images), feats)  # frozen, eval mode: deterministic
    # One image alone gives the same features as in a batch (batch norm uses stored statistics).
    assert torch.allclose(lite0(images[:1]), feats[:1], rtol=1e-4, atol=1e-4)


def test_pool_kernel_and_layers_are_configurable():
    base = FeatureExtractor(pool_kernel=1, layers=("blocks.2", "blocks.4"))
    assert base.feature_dim == 24 + 40 and base.patch_stride() == 4
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    pooled = FeatureExtractor(pool_kernel=3, layers=("blocks.2", "blocks.4"))
    a, b = base(images), pooled(images)
    assert a.shape == b.shape == (1, 64, 16, 16)
    # Pooling averages neighbours: interior cell = mean of the 3x3 unpooled cells.
    assert torch.allclose(b[0, :24, 5, 5], a[0, :24, 4:7, 4:7].mean(dim=(1, 2)), atol=1e-5)


def test_random_mobilenet_state_dict_loads_from_a_path(tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_large(weights=None).state_dict(), path)
    extractor = FeatureExtractor("mobilenet_v3_large", weights=path)
    feats = extractor(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    assert feats.shape == (1, 152, 8, 8) and extractor.config()["weights"] == str(path)


def test_torchvision_weights_found_in_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), checkpoints / "resnet18-f37072fd.pth")
    extractor = FeatureExtractor("resnet18")
    assert extractor.feature_dim == 128 + 256
    assert extractor(torch.rand(1, 3, 64, 64)).shape == (1, 384, 8, 8)


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "resnet18", "wide_resnet50_2"])
def test_missing_weights_name_the_offline_default(tmp_path, monkeypatch, name):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(BackboneUnavailable, match="efficientnet_lite0") as info:
        FeatureExtractor(name)
    assert name in str(info.value)


def test_wrong_or_missing_weight_files_are_clear_errors(tmp_path):
    wrong = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), wrong)
    with pytest.raises(BackboneUnavailable, match="do not fit mobilenet_v3_large"):
        FeatureExtractor("mobilenet_v3_large", weights=wrong)
    with pytest.raises(BackboneUnavailable, match="not found"):
        FeatureExtractor("resnet18", weights=tmp_path / "nothing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneUnavailable, match="cannot read"):
        FeatureExtractor("resnet18", weights=garbage)
    with pytest.raises(BackboneUnavailable, match="unknown backbone"):
        FeatureExtractor("vgg99")
    with pytest.raises(BackboneUnavailable, match="no stage"):
        FeatureExtractor(layers=("layer2",))
    assert {"efficientnet_lite0", "mobilenet_v3_large", "resnet18", "wide_resnet50_2"} <= set(
        BACKBONES
    )


def test_centred_pooling_odd_is_patchcores_and_even_is_a_centred_tent():
    """Kernel 3 equals PatchCore's AvgPool2d(3, 1, 1) (zeros beyond the border counted); kernel 2
    equals scipy's correlation with the tent [1/4, 1/2, 1/4] per axis on a zero-padded input."""
    from scipy import ndimage

    from seqcore_train.model.features import centred_avg_pool

    x = torch.rand(2, 4, 9, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(centred_avg_pool(x, 3), torch.nn.AvgPool2d(3, 1, 1)(x), atol=1e-12)
    tent = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])
    expected = np.stack(
        [
            [ndimage.correlate(c, tent, mode="constant", cval=0.0) for c in image]
            for image in x.numpy()
        ]
    )
    assert centred_avg_pool(x, 2).shape == x.shape
    assert np.allclose(centred_avg_pool(x, 2).numpy(), expected, atol=1e-12)
