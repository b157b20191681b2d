"""A small U-Net of depthwise-separable (or plain) convolutions, its named sizes, loading and prediction.

The network is an encoder-decoder with skip connections. Every block is two depthwise-separable
convolutions (3x3 depthwise, norm, activation, 1x1 pointwise, norm, activation), or two plain 3x3
convolutions with ``block="conv"`` (the ``unet-fast`` sizes); the encoder
halves the resolution ``depth`` times with 2x2 max pooling, the decoder doubles it back
(bilinear by default) and concatenates the encoder feature of the same scale. A 1x1 head gives
``num_classes`` logits per pixel: one channel means binary (sigmoid), more mean softmax.

Input: float ``N x 3 x H x W`` RGB in ``[0, 1]``; the ImageNet mean and std are applied inside
the model, so exported models take plain scaled pixels. ``H`` and ``W`` need not be divisible
by ``2 ** depth``: the normalised input is padded with zeros at the bottom and right to the next
multiple and the logits are cropped back, so the output always has the input's size (export
with a size that is a multiple, which skips the pad). Only ONNX-friendly operators are used
(Conv, BatchNorm/GroupNorm, ReLU/SiLU, MaxPool, Resize, Concat, Pad, Slice).

Named sizes live in :data:`UNET_SIZES`; :func:`build_unet` makes a model from a name.
:func:`load_unet` and :func:`predict_mask` in :mod:`idseg.models.unet_io` read checkpoints of
``idseg train unet`` and segment images.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from idseg._text import did_you_mean
from idseg.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["UNET_SIZES", "UNet", "UNetConfig", "build_unet", "count_parameters"]

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
NORMS = ("batch", "group")
ACTIVATIONS = ("relu", "silu")
UPSAMPLES = ("bilinear", "nearest")
BLOCKS = ("separable", "conv")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet`.

    Attributes:
        widths: Channels per scale, full resolution first; ``depth = len(widths) - 1``.
        num_classes: Output channels: 1 for binary (sigmoid), 2 or more for softmax.
        in_channels: Input channels (3 for RGB).
        norm: ``batch`` (BatchNorm) or ``group`` (GroupNorm, up to 8 groups).
        act: ``relu`` or ``silu``.
        upsample: ``bilinear`` or ``nearest`` (decoder upsampling).
        block: ``separable`` (depthwise 3x3 + pointwise 1x1, fewest weights) or ``conv`` (two
            plain 3x3 convolutions: more weights per channel, but several times faster to train
            and run on CPUs, whose kernels handle dense convolutions far better).
        name: The registry name it came from, if any (informative only).

    Example:
        >>> UNetConfig(widths=(8, 16, 32), num_classes=3).depth
        2
    """

    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    num_classes: int = 2
    in_channels: int = 3
    norm: str = "batch"
    act: str = "relu"
    upsample: str = "bilinear"
    block: str = "separable"
    name: str | None = field(default=None, compare=False)

    @property
    def depth(self) -> int:
        """Number of 2x downsamplings."""
        return len(self.widths) - 1

    def validated(self) -> UNetConfig:
        """Return ``self`` after checking every field.

        Raises:
            ConfigError: A value out of range or not among the choices.

        Example:
            >>> UNetConfig(widths=(8,)).validated()
            Traceback (most recent call last):
            idseg.errors.ConfigError: unet widths must be 2 or more positive integers ...
        """
        widths = tuple(self.widths)
        if len(widths) < 2 or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ConfigError(
                f"unet widths must be 2 or more positive integers (one per scale), got {widths!r}"
            )
        for label, value, low in (
            ("num_classes", self.num_classes, 1),
            ("in_channels", self.in_channels, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"unet {label} must be an integer >= {low}, got {value!r}")
        for key, choice, choices in (
            ("norm", self.norm, NORMS),
            ("act", self.act, ACTIVATIONS),
            ("upsample", self.upsample, UPSAMPLES),
            ("block", self.block, BLOCKS),
        ):
            if choice not in choices:
                raise ConfigError(
                    f"unet {key} must be one of {', '.join(choices)}, got {choice!r}"
                    f"{did_you_mean(str(choice), choices)}"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (widths as a list).

        Example:
            >>> UNetConfig(widths=(8, 16)).to_dict()["widths"]
            [8, 16]
        """
        data = asdict(self)
        data["widths"] = list(self.widths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        """Read :meth:`to_dict` output back.

        Raises:
            ConfigError: Unknown keys or bad values.

        Example:
            >>> UNetConfig.from_dict({"widths": [8, 16], "num_classes": 3}).widths
            (8, 16)
        """
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unet config: unknown key(s) {unknown}; expected some of {sorted(known)}"
            )
        values = dict(data)
        if "widths" in values:
            values["widths"] = tuple(values["widths"])
        return cls(**values).validated()


#: Named sizes (``num_classes`` is set when the model is built).
UNET_SIZES: dict[str, UNetConfig] = {
    "unet-test": UNetConfig(widths=(4, 8, 16), name="unet-test"),
    "unet-nano": UNetConfig(widths=(16, 32, 64, 128, 256), name="unet-nano"),
    "unet-small": UNetConfig(widths=(24, 48, 96, 192, 384, 512), name="unet-small"),
    "unet-fast": UNetConfig(widths=(8, 16, 32, 64, 128), block="conv", name="unet-fast"),
    "unet-fast-wide": UNetConfig(widths=(12, 24, 48, 96, 192), block="conv", name="unet-fast-wide"),
}


def build_unet(
    name: str | UNetConfig = "unet-nano", num_classes: int = 2, **overrides: Any
) -> UNet:
    """Build a randomly initialised U-Net from a registry name or a config.

    Args:
        name: A key of :data:`UNET_SIZES` or a :class:`UNetConfig`.
        num_classes: Output channels (1 = binary).
        **overrides: Other :class:`UNetConfig` fields (``norm``, ``act``, ``upsample`` ...).

    Raises:
        ConfigError: Unknown name or bad field.

    Example:
        >>> build_unet("unet-test", num_classes=3)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """
    if isinstance(name, UNetConfig):
        base = name
    elif name in UNET_SIZES:
        base = UNET_SIZES[name]
    else:
        raise ConfigError(
            f"unknown U-Net size {name!r}{did_you_mean(str(name), list(UNET_SIZES))} "
            f"(expected one of: {', '.join(UNET_SIZES)})"
        )
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
        overrides.setdefault("name", None)  # no longer the registry's size
    try:
        config = replace(base, num_classes=num_classes, **overrides)
    except TypeError as exc:
        raise ConfigError(f"unet: {exc}") from exc
    return UNet(config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return nn.BatchNorm2d(channels)


def _act(kind: str) -> nn.Module:
    return nn.SiLU(inplace=True) if kind == "silu" else nn.ReLU(inplace=True)


class _ConvNormAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, groups: int, cfg: UNetConfig) -> None:
        conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False)
        super().__init__(conv, _norm(cfg.norm, cout), _act(cfg.act))


class _SeparableBlock(nn.Sequential):
    """Two depthwise-separable convolutions: ``cin -> cout -> cout``."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig) -> None:
        super().__init__(
            _ConvNormAct(cin, cin, 3, cin, cfg),
            _ConvNormAct(cin, cout, 1, 1, cfg),
            _ConvNormAct(cout, cout, 3, cout, cfg),
            _ConvNormAct(cout, cout, 1, 1, cfg),
        )


class _ConvBlock(nn.Sequential):
    """Two plain 3x3 convolutions: ``cin -> cout -> cout``."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig) -> None:
        super().__init__(_ConvNormAct(cin, cout, 3, 1, cfg), _ConvNormAct(cout, cout, 3, 1, cfg))


def _block(cin: int, cout: int, cfg: UNetConfig) -> nn.Module:
    return _ConvBlock(cin, cout, cfg) if cfg.block == "conv" else _SeparableBlock(cin, cout, cfg)


class UNet(nn.Module):
    """U-Net of depthwise-separable blocks (see the module docstring for the layout).

    Args:
        config: The architecture; validated here.

    Example:
        >>> model = UNet(UNetConfig(widths=(4, 8), num_classes=1)).eval()
        >>> model(torch.rand(2, 3, 15, 9)).shape  # padded to 16 x 10 inside, cropped back
        torch.Size([2, 1, 15, 9])
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = cfg = config.validated()
        w = cfg.widths
        mean, std = (
            (_MEAN, _STD)
            if cfg.in_channels == 3
            else ((0.5,) * cfg.in_channels, (0.25,) * cfg.in_channels)
        )
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.stem: nn.Module = (
            _ConvBlock(cfg.in_channels, w[0], cfg)
            if cfg.block == "conv"
            else nn.Sequential(
                _ConvNormAct(cfg.in_channels, w[0], 3, 1, cfg),
                _ConvNormAct(w[0], w[0], 3, w[0], cfg),
                _ConvNormAct(w[0], w[0], 1, 1, cfg),
            )
        )
        self.down = nn.ModuleList(_block(w[i - 1], w[i], cfg) for i in range(1, len(w)))
        self.up = nn.ModuleList(
            _block(w[i] + w[i - 1], w[i - 1], cfg) for i in range(len(w) - 1, 0, -1)
        )
        self.head = nn.Conv2d(w[0], cfg.num_classes, 1)

    @property
    def multiple(self) -> int:
        """Input sizes that need no padding are multiples of this (``2 ** depth``)."""
        return int(2**self.config.depth)

    def _upsample(self, y: torch.Tensor) -> torch.Tensor:
        if self.config.upsample == "nearest":
            return F.interpolate(y, scale_factor=2.0, mode="nearest")
        return F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``N x num_classes x H x W`` for an RGB batch ``N x 3 x H x W`` in ``[0, 1]``."""
        h, w = int(x.shape[-2]), int(x.shape[-1])
        x = (x - self.mean) / self.std
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for block in self.up:
            skip = skips.pop()
            y = self._upsample(y)
            y = block(torch.cat([y, skip], dim=1))
        logits = self.head(y)
        if pad_h or pad_w:
            logits = logits[..., :h, :w]
        return logits
