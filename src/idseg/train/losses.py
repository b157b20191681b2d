"""Segmentation losses: soft Dice, soft IoU (Jaccard), cross-entropy / BCE, focal, and sums of them.

Every loss takes ``logits`` ``N x C x H x W`` and ``target`` ``N x H x W`` class values. ``C = 1``
is a binary model (sigmoid; class 1 is the foreground), ``C >= 2`` a softmax over classes. Pixels
whose target is ``ignore_index`` (the letterbox padding, by default ``255``) count for nothing.

Soft Dice and IoU are computed per class over *all* valid pixels of the batch, with ``p`` the
probabilities and ``t`` the one-hot target: ``I = sum(p t)``, ``S = sum(p) + sum(t)``,
``dice = (2 I + smooth) / (S + smooth)``, ``iou = (I + smooth) / (S - I + smooth)``; the loss is
``1 - sum(w_c score_c) / sum(w_c)`` over the classes (the foreground only for a binary model).
A class absent from both target and prediction scores about 1, so predicting mass for an absent
class is penalised. Cross-entropy and focal losses are class-weighted means as in
:func:`torch.nn.functional.cross_entropy` (``sum(w_t l) / sum(w_t)``).

:func:`parse_loss` reads a name such as ``"dice"``, ``"ce+dice"`` or ``"0.5*ce + dice"``, or the
original wrapper's mapping ``{"type": "dice", ...}``; :class:`SegmentationLoss` adds the terms.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from idseg._text import did_you_mean
from idseg.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "LOSS_NAMES",
    "LossSpec",
    "SegmentationLoss",
    "cross_entropy_loss",
    "dice_loss",
    "focal_loss",
    "jaccard_loss",
    "parse_loss",
]

#: Loss terms by name (aliases: iou -> jaccard, bce / cross_entropy -> ce).
LOSS_NAMES: tuple[str, ...] = ("dice", "jaccard", "ce", "focal")
_ALIASES = {"iou": "jaccard", "bce": "ce", "cross_entropy": "ce", "crossentropy": "ce"}
_TERM = re.compile(r"^\s*(?:(?P<w>\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?(?P<name>[a-z_]+)\s*$")


def _valid(
    target: torch.Tensor, channels: int, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of counted pixels and the target with ignored pixels set to 0."""
    classes = max(channels, 2)
    valid = (target != ignore_index) & (target >= 0) & (target < classes)
    return valid, torch.where(valid, target, torch.zeros_like(target)).long()


def _soft_sums(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class intersection, predicted mass and true mass over the batch's valid pixels."""
    channels = logits.shape[1]
    valid, clean = _valid(target, channels, ignore_index)
    v = valid.unsqueeze(1).to(logits.dtype)
    if channels == 1:
        probs = torch.sigmoid(logits.float())
        onehot = (clean == 1).unsqueeze(1).float()
    else:
        probs = torch.softmax(logits.float(), dim=1)
        onehot = F.one_hot(clean, channels).permute(0, 3, 1, 2).float()
    probs, onehot = probs * v, onehot * v
    dims = (0, 2, 3)
    return (probs * onehot).sum(dims), probs.sum(dims), onehot.sum(dims)


def _weighted_mean(scores: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    if class_weights is None or scores.numel() == 1:
        return scores.mean()
    w = class_weights.to(scores)
    return (scores * w).sum() / w.sum()


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = 255,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Soft Dice loss ``1 - weighted mean of per-class soft Dice`` (see the module docstring).

    Example:
        >>> logits = torch.tensor([[[[10.0, -10.0]], [[-10.0, 10.0]]]])  # 1 x 2 x 1 x 2
        >>> round(float(dice_loss(logits, torch.tensor([[[0, 1]]]), smooth=0.0)), 6)
        0.0
    """
    inter, pred, true = _soft_sums(logits, target, ignore_index)
    score = (2 * inter + smooth) / (pred + true + smooth).clamp_min(1e-7)
    return 1 - _weighted_mean(score, class_weights)


def jaccard_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = 255,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Soft IoU (Jaccard) loss ``1 - weighted mean of per-class soft IoU``.

    Example:
        >>> logits = torch.tensor([[[[0.0, 0.0]]]])  # binary, p = 0.5 at both pixels
        >>> float(jaccard_loss(logits, torch.tensor([[[0, 1]]]), smooth=0.0))  # 1 - 0.5 / 1.5
        0.6666666...
    """
    inter, pred, true = _soft_sums(logits, target, ignore_index)
    score = (inter + smooth) / (pred + true - inter + smooth).clamp_min(1e-7)
    return 1 - _weighted_mean(score, class_weights)


def _pixel_mean(
    losses: torch.Tensor, clean: torch.Tensor, valid: torch.Tensor, w: torch.Tensor | None
) -> torch.Tensor:
    weights = valid.float() if w is None else w.to(losses)[clean] * valid
    total = weights.sum()
    if float(total) == 0.0:
        return (losses * 0).sum()
    return (losses * weights).sum() / total


def cross_entropy_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Cross-entropy (binary cross-entropy for one channel), class-weighted mean over pixels.

    Example:
        >>> logits = torch.log(torch.tensor([[[[0.25]], [[0.75]]]]))  # p(class 1) = 0.75
        >>> round(float(cross_entropy_loss(logits, torch.tensor([[[1]]]))), 6)  # -ln 0.75
        0.287682
    """
    return focal_loss(logits, target, 0.0, class_weights, ignore_index)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Focal loss ``-(1 - p_t) ** gamma * log(p_t)``, class-weighted mean over valid pixels.

    ``gamma = 0`` is cross-entropy.

    Example:
        >>> logits = torch.log(torch.tensor([[[[0.25]], [[0.75]]]]))
        >>> round(float(focal_loss(logits, torch.tensor([[[1]]]), gamma=2.0)), 6)  # 0.25**2 * ln(4/3)
        0.01798
    """
    valid, clean = _valid(target, logits.shape[1], ignore_index)
    logits = logits.float()
    if logits.shape[1] == 1:
        z = logits[:, 0]
        sign = clean.float() * 2 - 1  # +1 for foreground, -1 for background
        log_pt = F.logsigmoid(sign * z)
    else:
        log_pt = torch.log_softmax(logits, dim=1).gather(1, clean.unsqueeze(1))[:, 0]
    losses = -log_pt if gamma == 0 else -((1 - log_pt.exp()).clamp_min(0) ** gamma) * log_pt
    return _pixel_mean(losses, clean, valid, class_weights)


@dataclass(frozen=True)
class LossSpec:
    """A weighted sum of loss terms and their options.

    Attributes:
        terms: ``(name, weight)`` pairs, names from :data:`LOSS_NAMES`.
        class_weights: Per-class weights (or ``None``), used by every term.
        ignore_index: Target value that is not counted.
        smooth: Smoothing of soft Dice and IoU.
        gamma: Focusing exponent of the focal loss.

    Example:
        >>> parse_loss("0.5*ce + dice").describe()
        '0.5*ce+1*dice'
    """

    terms: tuple[tuple[str, float], ...] = (("dice", 1.0),)
    class_weights: tuple[float, ...] | None = None
    ignore_index: int = 255
    smooth: float = 1.0
    gamma: float = 2.0

    def describe(self) -> str:
        """The terms as a string that :func:`parse_loss` reads back."""
        return "+".join(f"{w:g}*{name}" for name, w in self.terms)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping in the config's ``loss`` form (``{"type": ..., ...}``)."""
        out: dict[str, Any] = {"type": self.describe(), "ignore_index": self.ignore_index}
        out.update(smooth=self.smooth, gamma=self.gamma)
        out["class_weights"] = list(self.class_weights) if self.class_weights else None
        return out


def _parse_terms(text: str) -> tuple[tuple[str, float], ...]:
    terms = []
    for part in text.lower().split("+"):
        found = _TERM.match(part)
        name = _ALIASES.get(found.group("name"), found.group("name")) if found else part.strip()
        if found is None or name not in LOSS_NAMES:
            known = [*LOSS_NAMES, *_ALIASES]
            raise ConfigError(
                f"loss: unknown term {part.strip()!r} in {text!r}{did_you_mean(name, known)} "
                f"(expected names from {', '.join(known)}, joined by '+', e.g. 'ce+dice' or '0.5*ce+dice')"
            )
        terms.append((name, float(found.group("w")) if found.group("w") else 1.0))
    return tuple(terms)


def parse_loss(spec: str | Mapping[str, Any] | LossSpec | None) -> LossSpec:
    """Read a loss from a name or a config mapping.

    Args:
        spec: ``"dice"``, ``"ce+dice"``, ``"0.5*ce+dice"``; a mapping with ``type`` (or ``name``)
            and optional ``class_weights`` (list), ``ignore_index``, ``smooth``, ``gamma``;
            ``None`` for Dice.

    Raises:
        ConfigError: Unknown term or key, or a bad value.

    Example:
        >>> parse_loss({"type": "dice"}).terms
        (('dice', 1.0),)
        >>> parse_loss("focal+iou").terms
        (('focal', 1.0), ('jaccard', 1.0))
    """
    if isinstance(spec, LossSpec):
        return spec
    if spec is None or isinstance(spec, str):
        return LossSpec(terms=_parse_terms(spec or "dice"))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"loss must be a name or a mapping with 'type', got {spec!r}")
    keys = {"type", "name", "class_weights", "ignore_index", "smooth", "gamma"}
    unknown = sorted(set(spec) - keys)
    if unknown:
        raise ConfigError(
            f"loss: unknown key(s) {unknown}{did_you_mean(unknown[0], keys)} (expected some of {sorted(keys)})"
        )
    kind = spec.get("type", spec.get("name", "dice"))
    weights = spec.get("class_weights")
    try:
        out = LossSpec(
            terms=_parse_terms(str(kind)),
            class_weights=tuple(float(w) for w in weights) if weights is not None else None,
            ignore_index=int(spec.get("ignore_index", 255)),
            smooth=float(spec.get("smooth", 1.0)),
            gamma=float(spec.get("gamma", 2.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"loss: bad value in {dict(spec)!r}: {exc}") from exc
    if out.class_weights is not None and (not out.class_weights or min(out.class_weights) < 0):
        raise ConfigError(f"loss: class_weights must be non-negative numbers, got {weights!r}")
    return out


class SegmentationLoss(nn.Module):
    """The weighted sum of a :class:`LossSpec`'s terms.

    After each call, :attr:`last` holds each term's value (a float) for logging.

    Args:
        spec: Anything :func:`parse_loss` reads.
        class_weights: Per-class weights overriding the spec's (e.g. computed from the data).

    Example:
        >>> loss = SegmentationLoss("ce+dice")
        >>> logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
        >>> value = loss(logits, torch.zeros(1, 2, 2, dtype=torch.long))
        >>> sorted(loss.last)
        ['ce', 'dice']
    """

    def __init__(
        self,
        spec: str | Mapping[str, Any] | LossSpec | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.spec = parse_loss(spec)
        weights = class_weights if class_weights is not None else self.spec.class_weights
        self.weights = torch.tensor(weights, dtype=torch.float32) if weights else None
        self.last: dict[str, float] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Total loss of ``logits`` (``N x C x H x W``) against ``target`` (``N x H x W``)."""
        w = self._weights(logits)
        s = self.spec
        total = logits.new_zeros((), dtype=torch.float32)
        self.last = {}
        for name, factor in s.terms:
            if name == "dice":
                value = dice_loss(logits, target, w, s.ignore_index, s.smooth)
            elif name == "jaccard":
                value = jaccard_loss(logits, target, w, s.ignore_index, s.smooth)
            elif name == "ce":
                value = cross_entropy_loss(logits, target, w, s.ignore_index)
            else:
                value = focal_loss(logits, target, s.gamma, w, s.ignore_index)
            self.last[name] = float(value.detach())
            total = total + factor * value
        return total

    def _weights(self, logits: torch.Tensor) -> torch.Tensor | None:
        if self.weights is None:
            return None
        expected = max(2, logits.shape[1])
        if self.weights.numel() != expected:
            raise ConfigError(
                f"loss: {self.weights.numel()} class weights for a model with {expected} classes"
            )
        return self.weights.to(logits.device)
