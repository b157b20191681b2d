"""Image-side transforms of SAM2: the model input tensor and the cached image embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


@dataclass
class ImageEmbedding:
    """The image-dependent part of SAM2, computed once per image.

    Attributes:
        image_embed: ``1 x C x s x s`` lowest-resolution features (``s = image_size / 16``).
        high_res_feats: The two higher-resolution feature maps used by the mask decoder.
        orig_hw: ``(height, width)`` of the original image.

    Example:
        >>> embedding = predictor.embed("card.jpg")  # doctest: +SKIP
        >>> embedding.image_embed.shape, embedding.orig_hw  # doctest: +SKIP
        (torch.Size([1, 256, 64, 64]), (600, 950))
    """

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]
    orig_hw: tuple[int, int]


def image_to_tensor(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """Turn an HWC uint8 RGB image into the model input ``1 x 3 x size x size``.

    Same arithmetic as Meta's ``SAM2Transforms``: scale to [0, 1], bilinear antialiased resize to a
    square, then normalise with the ImageNet mean and standard deviation.

    Args:
        image: ``H x W x 3`` uint8 RGB image.
        size: The model's square input side (``model.image_size``).
        device: Where the tensor is created.

    Example:
        >>> x = image_to_tensor(np.zeros((30, 40, 3), np.uint8), 64, torch.device("cpu"))
        >>> tuple(x.shape), round(float(x[0, 0, 0, 0]), 4)
        ((1, 3, 64, 64), -2.1179)
    """
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)
    x = x.to(torch.float32).div(255)
    x = F.interpolate(
        x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    mean = torch.tensor(PIXEL_MEAN, device=device).view(1, -1, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(1, -1, 1, 1)
    return (x - mean) / std
