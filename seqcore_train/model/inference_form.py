"""A frozen backbone in its faster inference form: batch norms folded into convolutions, channels
last, symmetric padding done by the convolutions.

The feature extractor never trains, so a BatchNorm2d that reads a convolution's output is a fixed
affine map per channel, and it can live in that convolution's weights and bias: one pass over the
activations instead of two, which counts on a CPU, where these layers are memory-bound. By default
only the norms after pointwise expansions are folded (FOLD_CHOICE says why). Channels-last (NHWC)
lets oneDNN run depthwise and 1x1 convolutions without converting layouts, and a stride-1 "same"
convolution pads as it runs instead of copying its input into a padded tensor (bitwise the same).

Which convolution feeds which batch norm is read off a probe run (the norm's input is the very
tensor the convolution returned), so any registered backbone is handled without knowing its code.
The folded network is checked against the original on the probe; if they disagree beyond float
rounding (a convolution whose output something else reads too), nothing is folded.
Folded features agree with the unfolded network to float rounding, not bitwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "conv_norm_pairs",
    "expands_channels",
    "fold_batch_norms",
    "native_padding",
    "inference_form",
]

# Which norms are folded by default. Folding all 33 of EfficientNet-Lite0's (to blocks.10) moves
# blocks.4 by up to 1.1e-4 from the unfolded network on a photo at 97 x 130, past the 1e-4 bound that
# tests/seqcore_train/test_features.py holds it to against the efficientnet-lite-pytorch package
# (although float32 itself is 1.8e-4 from a float64 evaluation there, and folded no further off).
# Folding only the norms after pointwise expansions (10 of 33, on the widest activations) stays
# at 4e-5 and keeps most of the gain: one thread, 512^2, to blocks.10: 0.18 s unfolded, 0.14 s
# expansions folded, 0.125 s all folded (CPU seconds, median of 10 on a loaded machine).
FOLD_CHOICE = "expansions"

# The folded probe output must match the original to this fraction of its largest magnitude
# (float32 rounding through ~30 layers is ~1e-6 of it; a wrong fold is of the order of 1).
FOLD_TOLERANCE = 1e-4
PROBE = 64  # probe image side in pixels: a cell at stride 32 is still there


def _run(steps: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    for step in steps:
        x = step(x)
    return x


def _probe(steps: nn.ModuleList) -> torch.Tensor:
    device = next(iter(steps.parameters())).device
    generator = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, PROBE, PROBE, generator=generator).sub_(0.5).mul_(4).to(device)


def _foldable(norm: nn.Module) -> bool:
    return (
        type(norm) is nn.BatchNorm2d
        and not norm.training
        and norm.running_mean is not None
        and norm.running_var is not None
    )


@torch.no_grad()
def conv_norm_pairs(
    steps: nn.ModuleList, probe: torch.Tensor
) -> tuple[list[tuple[nn.Conv2d, nn.Module]], torch.Tensor]:
    """(convolution, batch norm) pairs in which the norm reads exactly the convolution's output,
    and the steps' output on `probe`.

    A module that runs more than once, or a convolution read by two norms, is left out.
    """
    produced: dict[int, tuple[nn.Module, torch.Tensor]] = {}  # outputs kept alive: ids stay unique
    calls: dict[int, int] = {}
    pairs: dict[int, tuple[nn.Module, nn.Module]] = {}

    def after_conv(module, _args, output) -> None:
        calls[id(module)] = calls.get(id(module), 0) + 1
        produced[id(output)] = (module, output)

    def before_norm(module, args) -> None:
        calls[id(module)] = calls.get(id(module), 0) + 1
        hit = produced.get(id(args[0]))
        if hit is not None and hit[1] is args[0] and _foldable(module):
            pairs[id(module)] = (hit[0], module)

    handles = []
    for module in steps.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(after_conv))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_pre_hook(before_norm))
    try:
        output = _run(steps, probe)
    finally:
        for handle in handles:
            handle.remove()
    convs = [conv for conv, _ in pairs.values()]
    kept = [
        (conv, norm)
        for conv, norm in pairs.values()
        if calls[id(conv)] == 1 and calls[id(norm)] == 1 and convs.count(conv) == 1
    ]
    return kept, output


def expands_channels(conv: nn.Conv2d) -> bool:
    """A pointwise (1 x 1) convolution that widens its input: an inverted residual's expansion."""
    return (
        tuple(conv.kernel_size) == (1, 1)
        and conv.groups == 1
        and conv.out_channels > conv.in_channels
    )


@torch.no_grad()
def fold_batch_norms(
    steps: nn.ModuleList, select: Callable[[nn.Conv2d], bool] | None = None
) -> int:
    """Fold, in place, every batch norm that reads a convolution's output (of the convolutions
    `select` accepts; None: all) into that convolution (the norm becomes an Identity). Returns how
    many were folded: 0 when the probe check fails.

    The steps are put in eval mode first: only frozen statistics can be folded, and a probe run
    in training mode would change them."""
    steps.eval()
    probe = _probe(steps)
    pairs, expected = conv_norm_pairs(steps, probe)
    pairs = [(conv, norm) for conv, norm in pairs if select is None or select(conv)]
    if not pairs:
        return 0
    parents = {
        id(child): (parent, name)
        for parent in steps.modules()
        for name, child in parent.named_children()
    }
    undo = []
    for conv, norm in pairs:
        parent, name = parents[id(norm)]
        undo.append((conv, conv.weight, conv.bias, parent, name, norm))
        # in float64, then rounded once: the folded weights are the exact product, rounded
        scale = (norm.running_var.double() + norm.eps).rsqrt()
        if norm.weight is not None:
            scale = scale * norm.weight.double()
        shift = -norm.running_mean.double() * scale
        if norm.bias is not None:
            shift = shift + norm.bias.double()
        if conv.bias is not None:
            shift = shift + conv.bias.double() * scale
        weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.ndim - 1)))
        dtype = conv.weight.dtype
        conv.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
        conv.bias = nn.Parameter(shift.to(dtype), requires_grad=False)
        setattr(parent, name, nn.Identity())
    folded = _run(steps, probe)
    scale = float(expected.abs().max().clamp(min=1.0))
    if float((folded - expected).abs().max()) > FOLD_TOLERANCE * scale:
        for conv, weight, bias, parent, name, norm in undo:
            conv.weight, conv.bias = weight, bias
            setattr(parent, name, norm)
        return 0
    return len(pairs)


def _symmetric_padding(conv: nn.Module) -> tuple[int, int] | None:
    """The fixed (rows, columns) padding of a size-dependent-padding convolution (TensorFlow
    "same", `axis_padding`) when it pads equally before and after at every input size, else None.

    At stride 1 "same" pads dilation * (kernel - 1) in all, whatever the size: an odd kernel pads
    evenly on both sides.
    """
    if not hasattr(conv, "axis_padding") or any(s != 1 for s in conv.stride):
        return None
    pads = [conv.axis_padding(PROBE, axis) for axis in (0, 1)]
    if any(before != after for before, after in pads):
        return None
    return pads[0][0], pads[1][0]


def native_padding(steps: nn.ModuleList) -> int:
    """Replace, in place, "same" convolutions that always pad symmetrically by plain Conv2d padding
    as much: the convolution pads as it runs instead of copying its input into a padded tensor.
    Returns how many were replaced. Strided ones (asymmetric "same" padding) stay as they are."""
    replaced = 0
    for parent in list(steps.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Conv2d) or type(child) is nn.Conv2d:
                continue
            padding = _symmetric_padding(child)
            if padding is None:
                continue
            plain = nn.Conv2d(
                child.in_channels,
                child.out_channels,
                child.kernel_size,
                stride=child.stride,
                padding=padding,
                dilation=child.dilation,
                groups=child.groups,
                bias=child.bias is not None,
                device="meta",
            )
            plain.weight, plain.bias = child.weight, child.bias  # the same tensors, not copies
            setattr(parent, name, plain)
            replaced += 1
    return replaced


def inference_form(steps: nn.ModuleList, fold: str = FOLD_CHOICE) -> nn.ModuleList:
    """`steps`, frozen, with batch norms folded, symmetric padding done by the convolutions and
    4-D weights channels-last (in place).

    `fold`: "expansions" folds the norms after pointwise expansions only (see FOLD_CHOICE),
    "all" every foldable norm, "none" none.
    """
    if fold not in ("expansions", "all", "none"):
        raise ValueError(f"fold must be expansions, all or none, got {fold!r}")
    steps.eval()
    steps.requires_grad_(False)
    if fold != "none":
        fold_batch_norms(steps, expands_channels if fold == "expansions" else None)
    native_padding(steps)
    return steps.to(memory_format=torch.channels_last)
