"""Training: the U-Net of :mod:`idseg.models.unet` on idseg's folder datasets.

The public entry points are :func:`resolve_train_config` (defaults, config file, flags) and
:func:`train_unet` (the loop); the losses, augmentation and data pieces live in their modules.

Example:
    >>> from idseg.train import resolve_train_config, train_unet
    >>> cfg = resolve_train_config(data="data/split", epochs=20, model="unet-small")  # doctest: +SKIP
    >>> train_unet(cfg, "runs/fields").best_mean_iou  # doctest: +SKIP
    0.9
"""

from __future__ import annotations

from idseg.train.losses import SegmentationLoss, parse_loss
from idseg.train.unet_config import UNetTrainConfig, resolve_train_config
from idseg.train.unet_loop import TrainResult, train_unet

__all__ = [
    "SegmentationLoss",
    "TrainResult",
    "UNetTrainConfig",
    "parse_loss",
    "resolve_train_config",
    "train_unet",
]
