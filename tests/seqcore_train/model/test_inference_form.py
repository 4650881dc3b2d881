"""The backbone's inference form (batch norms folded, native padding, channels-last) computes the
same features as the network as written, to float rounding, and refuses folds that would not."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import seqcore_train.model.features as features_module
from seqcore_train.model.efficientnet_lite import SameConv2d
from seqcore_train.model.features import FeatureExtractor
from seqcore_train.model.inference_form import (
    conv_norm_pairs,
    fold_batch_norms,
    inference_form,
    native_padding,
)

# Float32 rounding through ~30 layers regrouped (weights times BN scale, oneDNN's NHWC kernels):
# measured ~1e-6 of the largest feature; 1e-5 of it leaves room for other CPUs' kernels.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def extractors():
    """(inference form, as written) EfficientNet-Lite0 extractors with the shipped weights."""
    fast = FeatureExtractor("efficientnet_lite0")
    plain_form = features_module.inference_form
    features_module.inference_form = lambda steps: steps  # the network exactly as written
    try:
        plain = FeatureExtractor("efficientnet_lite0")
    finally:
        features_module.inference_form = plain_form
    return fast, plain


def test_lite0_inference_form_folds_the_expansions_norms_and_keeps_strided_same_padding(
    extractors,
):
    fast, plain = extractors
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.steps.modules()) == 33  # to blocks.10
    # blocks.1 ... blocks.10 expand; their 10 norms are folded, the other 23 stay
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fast.steps.modules()) == 23
    for block in fast.steps[2:]:
        assert isinstance(block._bn0, nn.Identity) and block._expand_conv.bias is not None
    strided = [m for m in fast.steps.modules() if isinstance(m, SameConv2d)]
    assert strided and all(max(m.stride) == 2 for m in strided)  # TF padding stays asymmetric
    assert all(
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in fast.steps.modules()
        if isinstance(m, nn.Conv2d)
    )


@pytest.mark.parametrize("size", [(64, 64), (77, 50), (96, 131)])
def test_lite0_inference_form_features_equal_the_written_network(extractors, size):
    fast, plain = extractors
    images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    ours, reference = fast(images), plain(images)
    assert ours.shape == reference.shape
    scale = float(reference.abs().max())
    assert float((ours - reference).abs().max()) <= RELATIVE * scale
    for name, stage in fast.stage_maps(images).items():  # every chosen stage, before pooling
        expected = plain.stage_maps(images)[name]
        assert float((stage - expected).abs().max()) <= RELATIVE * float(expected.abs().max())
    # where cells sit does not change either (the tracer follows the same strided layers)
    assert fast.cell_axes(size) == plain.cell_axes(size)


class _ReadTwice(nn.Module):
    """A convolution whose output feeds a batch norm *and* a skip: folding would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.norm(y) + y


def _trained_norm(norm: nn.BatchNorm2d, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        norm.running_mean.copy_(torch.randn(norm.num_features, generator=g))
        norm.running_var.copy_(torch.rand(norm.num_features, generator=g) + 0.5)
        norm.weight.copy_(torch.randn(norm.num_features, generator=g))
        norm.bias.copy_(torch.randn(norm.num_features, generator=g))


def test_a_norm_after_a_conv_read_elsewhere_too_is_not_folded():
    steps = nn.ModuleList([_ReadTwice()]).eval()
    _trained_norm(steps[0].norm, 0)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    before = steps[0](x)
    weight = steps[0].conv.weight.clone()
    assert fold_batch_norms(steps) == 0  # the probe disagrees: everything put back
    assert isinstance(steps[0].norm, nn.BatchNorm2d)
    assert torch.equal(steps[0].conv.weight, weight)
    assert torch.equal(steps[0](x), before)


def test_conv_bn_pairs_are_read_off_the_data_flow_not_the_module_order():
    block = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1))
    block.append(nn.BatchNorm2d(4))
    steps = nn.ModuleList([block]).eval()
    pairs, _ = conv_norm_pairs(steps, torch.rand(1, 3, 8, 8))
    assert pairs == [(block[3], block[4])]  # the first norm reads a ReLU's output, not the conv's


def test_folding_every_norm_stays_within_float_rounding(extractors):
    fast, plain = extractors
    steps = copy.deepcopy(plain.steps)
    inference_form(steps, fold="all")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in steps.modules())
    x = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(4))
    ours = expected = x
    with torch.no_grad():
        for step, reference in zip(steps, plain.steps, strict=True):
            ours, expected = step(ours), reference(expected)
    assert float((ours - expected).abs().max()) <= RELATIVE * float(expected.abs().max())
    with pytest.raises(ValueError, match="fold must be"):
        inference_form(steps, fold="some")


def test_folded_resnet_style_block_matches_float64_reference():
    """A torchvision-style conv/bn/relu stack with random statistics: the folded float32 network
    against the unfolded one evaluated in float64 (an independent, more precise evaluation)."""
    torch.manual_seed(0)
    steps = nn.ModuleList(
        [
            nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8)),
            nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8)),
        ]
    ).eval()
    for i, norm in enumerate(m for m in steps.modules() if isinstance(m, nn.BatchNorm2d)):
        _trained_norm(norm, 10 + i)
    reference = copy.deepcopy(steps).double()
    x = torch.rand(2, 3, 33, 20, generator=torch.Generator().manual_seed(2))
    inference_form(steps, fold="all")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in steps.modules())
    expected, out = x.double(), x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for step, unfolded in zip(steps, reference, strict=True):
            expected, out = unfolded(expected), step(out)
    assert torch.allclose(
        out.double(), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max())
    )


def test_native_padding_replaces_only_stride_one_same_convolutions():
    steps = nn.ModuleList(
        [
            nn.Sequential(
                SameConv2d(3, 4, 3, stride=2, bias=False),
                SameConv2d(4, 4, 5, groups=4, bias=False),
                SameConv2d(4, 4, 3, dilation=2, bias=False),
            )
        ]
    ).eval()
    x = torch.rand(1, 3, 23, 18, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = steps[0](x)
        assert native_padding(steps) == 2
        after = steps[0](x)
    kinds = [type(m) for m in steps[0]]
    assert kinds == [SameConv2d, nn.Conv2d, nn.Conv2d]
    assert steps[0][1].padding == (2, 2) and steps[0][2].padding == (2, 2)
    assert float((after - before).abs().max()) <= 1e-6 * float(before.abs().max())
