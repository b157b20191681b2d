"""The two exportable halves of SAM2 as plain ``nn.Module`` graphs (tensors in, tensors out).

:class:`ImageEncoderGraph` is what :meth:`idseg.sam.predictor.SAM2Predictor.embed` runs after the
preprocessing; :class:`PromptDecoderGraph` is SAM2's prompt encoder and mask decoder with every
prompt kind folded into fixed inputs, so one graph answers any number of points and boxes:

* boxes are two corner points with labels 2 and 3, placed before the points (as idseg and Meta's
  predictor do);
* a padding point with label -1 ends every prompt set that has points (SAM2 appends it itself when
  no box tensor is given); the caller adds it, so that a mask-only prompt (``N = 0``) stays exact;
* ``has_mask_input`` selects between the mask embedding of ``mask_input`` and the "no mask" one.

The decoder returns all four mask tokens: index 0 is the single-mask output, 1 to 3 the
multimask candidates. :func:`select_masks` picks from them exactly like SAM2's ``MaskDecoder``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from torch import nn

from idseg.errors import ConfigError

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

logger = logging.getLogger(__name__)

#: Names of the graphs' inputs and outputs (also used by the runtime).
ENCODER_INPUTS = ("image",)
ENCODER_OUTPUTS = ("image_embed", "high_res_feats_0", "high_res_feats_1")
DECODER_INPUTS = (
    "image_embed",
    "high_res_feats_0",
    "high_res_feats_1",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
)
DECODER_OUTPUTS = ("low_res_masks", "iou_predictions")


def check_exportable(model: SAM2Base) -> None:
    """Raise :class:`ConfigError` for SAM2 variants the graphs do not cover.

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> check_exportable(build_model("idseg_test_tiny"))
    """
    if not model.use_high_res_features_in_sam:
        raise ConfigError(
            "ONNX export needs a SAM2 config with use_high_res_features_in_sam: true "
            "(all official configs have it), got false"
        )


class ImageEncoderGraph(nn.Module):
    """Normalised image ``1 x 3 x S x S`` to the image embedding and the two high-res features.

    Args:
        model: A SAM2 model in eval mode.

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> graph = ImageEncoderGraph(build_model("idseg_test_tiny"))
        >>> [tuple(t.shape) for t in graph(torch.zeros(1, 3, 256, 256))]
        [(1, 64, 16, 16), (1, 8, 64, 64), (1, 16, 32, 32)]
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        self.eval()

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Same arithmetic as ``SAM2Predictor.embed`` after preprocessing."""
        backbone_out = self.model.forward_image(image)
        _, vision_feats, _, feat_sizes = self.model._prepare_backbone_features(backbone_out)
        if self.model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        feats = [
            feat.permute(1, 2, 0).reshape(1, -1, *size)
            for feat, size in zip(vision_feats, feat_sizes, strict=True)
        ]
        return feats[-1], feats[0], feats[1]


class PromptDecoderGraph(nn.Module):
    """Prompts on one image embedding to all four mask tokens' logits and IoU predictions.

    Inputs are those of :data:`DECODER_INPUTS`: the three image features (batch 1), point
    coordinates ``B x N x 2`` in the model's input frame, labels ``B x N`` (-1 padding, 0
    background, 1 foreground, 2 and 3 box corners), ``mask_input`` ``B x 1 x h x w`` low-res
    logits and ``has_mask_input`` of shape ``1`` (1 uses ``mask_input``, 0 the "no mask" embedding;
    ``mask_input`` must still have the batch size then, zeros will do).

    Args:
        model: A SAM2 model in eval mode.

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> graph = PromptDecoderGraph(build_model("idseg_test_tiny"))
        >>> feats = ImageEncoderGraph(graph.model)(torch.zeros(1, 3, 256, 256))
        >>> xy, lab = torch.tensor([[[128.0, 128.0], [0, 0]]]), torch.tensor([[1, -1]])
        >>> low, iou = graph(*feats, xy, lab, torch.zeros(1, 1, 64, 64), torch.zeros(1))
        >>> tuple(low.shape), tuple(iou.shape)
        ((1, 4, 64, 64), (1, 4))
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        self.eval()

    def forward(
        self,
        image_embed: torch.Tensor,
        high_res_feats_0: torch.Tensor,
        high_res_feats_1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run SAM2's own prompt-encoder and mask-decoder code on the folded prompts."""
        encoder = self.model.sam_prompt_encoder
        sparse = encoder._embed_points(point_coords, point_labels, pad=False)
        with_mask = encoder._embed_masks(mask_input)
        no_mask = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        dense = torch.where(has_mask_input.reshape(-1, 1, 1, 1) > 0, with_mask, no_mask)
        masks, iou, _, _ = self.model.sam_mask_decoder.predict_masks(
            image_embeddings=image_embed,
            image_pe=encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=True,
            high_res_features=[high_res_feats_0, high_res_feats_1],
        )
        return masks, iou


def stability_scores(logits: torch.Tensor, delta: float) -> torch.Tensor:
    """IoU of ``logits > delta`` and ``logits > -delta`` over the last two axes (1 when empty).

    Example:
        >>> stability_scores(torch.tensor([[[[1.0, 0.01], [-1.0, -1.0]]]]), 0.05).tolist()
        [[0.5]]
    """
    flat = logits.flatten(-2)
    inter = torch.sum(flat > delta, dim=-1).float()
    union = torch.sum(flat > -delta, dim=-1).float()
    return torch.where(union > 0, inter / union, 1.0)


def select_masks(
    masks: torch.Tensor,
    iou: torch.Tensor,
    multimask_output: bool,
    stability: tuple[float, float] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick SAM2's output from all four mask tokens, as ``MaskDecoder.forward`` does in eval mode.

    Args:
        masks: ``B x 4 x h x w`` logits of the four mask tokens.
        iou: ``B x 4`` IoU predictions.
        multimask_output: Tokens 1 to 3 instead of token 0.
        stability: ``(delta, threshold)`` of the dynamic multimask fallback (a single mask whose
            stability score is below the threshold is replaced by the best multimask candidate),
            or ``None`` when the model does not use it.

    Returns:
        ``(B x C x h x w, B x C)`` with ``C`` 3 or 1.

    Example:
        >>> m, s = select_masks(torch.zeros(2, 4, 8, 8), torch.rand(2, 4), True, None)
        >>> tuple(m.shape), tuple(s.shape)
        ((2, 3, 8, 8), (2, 3))
    """
    if multimask_output:
        return masks[:, 1:], iou[:, 1:]
    if stability is None:
        return masks[:, 0:1], iou[:, 0:1]
    delta, threshold = stability
    rows = torch.arange(masks.shape[0], device=masks.device)
    best = torch.argmax(iou[:, 1:], dim=-1) + 1
    stable = stability_scores(masks[:, 0:1], delta) >= threshold
    out_masks = torch.where(stable[..., None, None], masks[:, 0:1], masks[rows, best][:, None])
    out_iou = torch.where(stable, iou[:, 0:1], iou[rows, best][:, None])
    return out_masks, out_iou


def stability_settings(model: SAM2Base) -> tuple[float, float] | None:
    """``(delta, threshold)`` of the model's dynamic multimask fallback, ``None`` when off.

    Example:
        >>> from idseg.models.sam2 import build_model
        >>> stability_settings(build_model("idseg_test_tiny"))
        (0.05, 0.98)
    """
    decoder = model.sam_mask_decoder
    if not decoder.dynamic_multimask_via_stability:
        return None
    return (
        float(decoder.dynamic_multimask_stability_delta),
        float(decoder.dynamic_multimask_stability_thresh),
    )


__all__ = [
    "DECODER_INPUTS",
    "DECODER_OUTPUTS",
    "ENCODER_INPUTS",
    "ENCODER_OUTPUTS",
    "ImageEncoderGraph",
    "PromptDecoderGraph",
    "check_exportable",
    "select_masks",
    "stability_scores",
    "stability_settings",
]
