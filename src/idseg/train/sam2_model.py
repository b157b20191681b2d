"""SAM2 for training: which parts learn, LoRA adapters, and a differentiable prompt forward.

:func:`embed_images` and :func:`decode_prompts` run the same modules, in the same order, as
:class:`idseg.sam.predictor.SAM2Predictor` (and Meta's ``SAM2ImagePredictor``): the image
encoder, the backbone features with ``no_mem_embed`` added, the prompt encoder and the mask
decoder with high-resolution features; only without ``inference_mode``, on a batch of images,
and with each object's prompts decoded against its own image's features.

LoRA (:class:`LoRALinear`) wraps the ``qkv`` and ``proj`` layers of the Hiera trunk's
attention: ``y = W x + b + (alpha / r) * B A x`` with ``A`` random and ``B`` zero at the start,
so the model starts exactly as loaded. :func:`meta_state_dict` merges the adapters into ``W``
and returns the state dict under Meta's key names, so checkpoints load in ``build_sam2``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn

from idseg.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "LoRALinear",
    "add_lora",
    "decode_prompts",
    "embed_images",
    "meta_state_dict",
    "normalize_images",
    "set_trainable",
]

_PART_MODULES = {
    "mask_decoder": ("sam_mask_decoder",),
    "prompt_encoder": ("sam_prompt_encoder",),
    "image_encoder": ("image_encoder",),
}
#: Image-level parameters of SAM2Base used by the image path (trained with the encoder).
_IMAGE_PARAMS = ("no_mem_embed",)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class LoRALinear(nn.Linear):
    """A linear layer with a low-rank trainable update (the base weights stay frozen).

    Example:
        >>> base = nn.Linear(4, 6)
        >>> lora = LoRALinear.wrap(base, rank=2, alpha=4.0)
        >>> x = torch.randn(3, 4)
        >>> torch.allclose(lora(x), base(x))   # B starts at zero
        True
    """

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__(in_features, out_features)
        self.rank = rank
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @classmethod
    def wrap(cls, base: nn.Linear, rank: int, alpha: float) -> LoRALinear:
        """A LoRA layer holding ``base``'s weights (copied), frozen."""
        layer = cls(base.in_features, base.out_features, rank, alpha)
        layer.to(base.weight.device)
        with torch.no_grad():
            layer.weight.copy_(base.weight)
            if base.bias is not None:
                layer.bias.copy_(base.bias)
        layer.weight.requires_grad_(False)
        layer.bias.requires_grad_(False)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = super().forward(x)
        return out + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale

    def merged_weight(self) -> torch.Tensor:
        """``W + (alpha / r) * B A``: the weight of an equivalent plain linear layer."""
        return self.weight + self.scale * (self.lora_B @ self.lora_A)


def add_lora(model: nn.Module, rank: int, alpha: float) -> int:
    """Wrap the attention ``qkv`` and ``proj`` layers of the image encoder's trunk with LoRA.

    Returns:
        The number of layers wrapped.

    Raises:
        ConfigError: The model has no such layers (not a Hiera image encoder).
    """
    trunk = getattr(getattr(model, "image_encoder", None), "trunk", None)
    count = 0
    for module in trunk.modules() if trunk is not None else ():
        for name in ("qkv", "proj"):
            child = getattr(module, name, None)
            if type(child) is nn.Linear and hasattr(module, "num_heads"):
                setattr(module, name, LoRALinear.wrap(child, rank, alpha))
                count += 1
    if count == 0:
        raise ConfigError("LoRA needs a Hiera image encoder with attention qkv/proj layers")
    return count


def set_trainable(model: nn.Module, parts: tuple[str, ...]) -> int:
    """Freeze everything but ``parts`` (and LoRA adapters); return the trainable parameter count.

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> m = build_model("idseg_test_tiny")
        >>> set_trainable(m, ("mask_decoder",)) == sum(p.numel() for p in m.sam_mask_decoder.parameters())
        True
    """
    for p in model.parameters():
        p.requires_grad_(False)
    if "all" in parts:
        for p in model.parameters():
            p.requires_grad_(True)
    for part in parts:
        for attr in _PART_MODULES.get(part, ()):
            getattr(model, attr).requires_grad_(True)
        if part == "image_encoder":
            for attr in _IMAGE_PARAMS:
                getattr(model, attr).requires_grad_(True)
    for module in model.modules():
        if isinstance(module, LoRALinear):
            module.lora_A.requires_grad_(True)
            module.lora_B.requires_grad_(True)
            if "all" not in parts and "image_encoder" not in parts:
                module.weight.requires_grad_(False)
                module.bias.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def meta_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights under Meta's key names, LoRA merged (a plain copy on CPU).

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> m = build_model("idseg_test_tiny"); keys = set(m.state_dict())
        >>> _ = add_lora(m, 2, 4.0)
        >>> set(meta_state_dict(m)) == keys
        True
    """
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            state[f"{name}.weight"] = module.merged_weight().detach().cpu().clone()
            del state[f"{name}.lora_A"], state[f"{name}.lora_B"]
    return state


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """``B x 3 x S x S`` uint8 RGB to the float input SAM2 expects (ImageNet mean and std)."""
    mean = torch.tensor(_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def embed_images(model: Any, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Image embeddings and high-resolution features of a normalised batch, as the predictor.

    Returns:
        ``(image_embed B x C x h x w, [high-res features, finest first])``.
    """
    backbone_out = model.forward_image(x)
    _, vision_feats, _, feat_sizes = model._prepare_backbone_features(backbone_out)
    if model.directly_add_no_mem_embed:
        vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
    b = x.shape[0]
    feats = [
        feat.permute(1, 2, 0).reshape(b, -1, *size)
        for feat, size in zip(vision_feats, feat_sizes, strict=True)
    ]
    return feats[-1], feats[:-1]


def decode_prompts(
    model: Any,
    image_embed: torch.Tensor,
    high_res: list[torch.Tensor],
    image_index: torch.Tensor,
    coords: torch.Tensor,
    labels: torch.Tensor,
    mask_input: torch.Tensor | None,
    multimask: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one prompt set per object against its image's features.

    Args:
        model: The SAM2 model.
        image_embed: ``B x C x h x w`` from :func:`embed_images`.
        high_res: The high-resolution features from :func:`embed_images`.
        image_index: ``K`` image index of each object.
        coords: ``K x N x 2`` points in the model input frame (boxes as corner points with
            labels 2 and 3, first).
        labels: ``K x N`` labels.
        mask_input: ``K x 1 x 4h x 4w`` previous low-resolution logits, or ``None``.
        multimask: Three candidates per object instead of one.

    Returns:
        ``(low-resolution logits K x M x 4h x 4w, IoU predictions K x M)``.
    """
    sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
    low_res, iou, _, _ = model.sam_mask_decoder(
        image_embeddings=image_embed[image_index],
        image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        repeat_image=False,
        high_res_features=[f[image_index] for f in high_res],
    )
    return low_res, iou
