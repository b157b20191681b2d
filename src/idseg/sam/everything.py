"""Segment-everything: masks for a grid of point prompts over the image and its crops.

The algorithm is that of Meta's ``SAM2AutomaticMaskGenerator``, built on
:class:`~idseg.sam.predictor.SAM2Predictor` and Meta's small helpers in ``sam2.utils.amg``:

1. crop boxes (the whole image, then ``crop_n_layers`` layers of overlapping crops) and one
   point grid per layer;
2. per crop: embed the crop once, decode the grid points in batches of ``points_per_batch``
   (three candidates per point with ``multimask_output``), and with ``use_m2m`` decode every
   candidate once more with its own clamped low-resolution logits as mask input (one output);
3. keep candidates whose predicted IoU is *above* ``pred_iou_thresh`` and whose stability score
   (on the logits upsampled to the crop) is *at least* ``stability_score_thresh``; binarise at
   ``mask_threshold``, drop masks whose box touches a crop edge that is not an image edge, and
   suppress duplicates by box NMS (``box_nms_thresh``, scored by predicted IoU);
4. across crops, box NMS (``crop_nms_thresh``) preferring masks from smaller crops.

Differences from Meta's generator:

* ``min_mask_region_area`` > 0: after generation, holes and then islands smaller than that many
  *image* pixels are removed from every mask (OpenCV connected components, as SAM1's
  ``postprocess_small_regions``), then box NMS at ``max(box_nms_thresh, crop_nms_thresh)`` runs
  again preferring unchanged masks. Meta's SAM2 generator instead hands the value to its predictor
  as ``max_hole_area``/``max_sprinkle_area`` on the low-resolution logits, which needs SAM2's
  CUDA extension and is skipped with a warning without it, and never calls
  ``postprocess_small_regions``. Here it works the same on CPU and GPU.
* Memory and time: candidates failing the predicted-IoU filter are never upsampled. On the CPU
  (``windowed``) each remaining candidate is upsampled only inside the box where its logits can
  pass the stability score's lower threshold (:mod:`idseg.sam.upsample`: every pixel outside is
  below it), so stability scores, masks and boxes are Meta's up to float rounding at the
  threshold; with ``windowed=False`` (and on a GPU) full-resolution float logits exist for a few
  masks at a time and the results are Meta's pixel for pixel. Before any upsampling, candidates
  whose stability score provably cannot reach ``stability_score_thresh`` (an upper bound from
  the low-resolution logits, :func:`~idseg.sam.upsample.stability_upper_bound`) are dropped.
* ``mode="fast"`` is a documented approximation (:mod:`idseg.sam.everything_fast`).
* :meth:`EverythingGenerator.generate` returns typed :class:`~idseg.sam.results.Segments` sorted
  by area, largest first; :meth:`EverythingGenerator.generate_records` returns Meta's records in
  Meta's order. When no mask survives in any crop, the result is empty (Meta's generator fails
  in its cross-crop NMS in that case).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sam2.utils.amg import (
    MaskData,
    batch_iterator,
    batched_mask_to_box,
    build_all_layer_point_grids,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)
from torchvision.ops import box_area

from idseg.errors import InputError
from idseg.sam import postprocess as _post
from idseg.sam import settings as _settings
from idseg.sam.everything_fast import FastCrop
from idseg.sam.predictor import (
    LOGIT_CLAMP,
    ImageEmbedding,
    SAM2Predictor,
    _as_rgb,
    bf16_is_fast,
)
from idseg.sam.results import Segments
from idseg.sam.settings import EverythingSettings
from idseg.sam.upsample import stability_upper_bound, windowed_binarise

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

logger = logging.getLogger(__name__)


class EverythingGenerator:
    """Find every object in an image with SAM2 (Meta's automatic mask generation).

    Args:
        predictor: A :class:`SAM2Predictor`, or a SAM2 model to wrap in one.
        settings: The parameters; default Meta's defaults.
        windowed: Upsample each candidate only inside the box where it can pass the stability
            score's lower threshold (:mod:`idseg.sam.upsample`): the same masks up to float
            rounding at the threshold, about 2x faster when many candidates pass the IoU filter.
            ``None`` (default): on the CPU; ``False`` gives Meta's arithmetic pixel for pixel.
        **overrides: Individual parameters replacing those of ``settings``.

    Raises:
        InputError: Unknown or invalid parameters, or ``predictor`` is not a SAM2 model.

    Example:
        >>> gen = EverythingGenerator(predictor, points_per_side=16)  # doctest: +SKIP
        >>> segments = gen.generate("card.jpg")  # doctest: +SKIP
        >>> biggest = segments[0].mask  # doctest: +SKIP
    """

    def __init__(
        self,
        predictor: SAM2Predictor | SAM2Base,
        settings: EverythingSettings | None = None,
        *,
        windowed: bool | None = None,
        **overrides: Any,
    ) -> None:
        self.windowed = windowed
        if isinstance(predictor, SAM2Predictor):
            self.predictor = predictor
        elif hasattr(predictor, "sam_mask_decoder") and hasattr(predictor, "forward_image"):
            self.predictor = SAM2Predictor(predictor)
        else:
            raise InputError(
                f"expected a SAM2Predictor or a SAM2 model, got {type(predictor).__name__}"
            )
        base = settings if settings is not None else EverythingSettings()
        self.settings = base.replace(**overrides) if overrides else base
        s = self.settings
        if s.point_grids is not None:
            self.point_grids = [np.asarray(g, dtype=np.float64) for g in s.point_grids]
        else:
            self.point_grids = build_all_layer_point_grids(
                int(s.points_per_side or 0), s.crop_n_layers, s.crop_n_points_downscale_factor
            )
        self._fast_predictor = _fast_predictor(self.predictor, s) if s.mode == "fast" else None

    @property
    def decoding_predictor(self) -> SAM2Predictor:
        """The predictor that decodes prompts (fast mode's may decode in bf16)."""
        return self._fast_predictor or self.predictor

    @classmethod
    def from_preset(
        cls, predictor: SAM2Predictor | SAM2Base, name: str = "default", **overrides: Any
    ) -> EverythingGenerator:
        """A generator with a named preset (``default``, ``dense``, ``documents``).

        Example:
            >>> gen = EverythingGenerator.from_preset(model, "documents")  # doctest: +SKIP
        """
        return cls(predictor, _settings.preset(name, **overrides))

    def generate(self, image: Any, *, embedding: ImageEmbedding | None = None) -> Segments:
        """Segment everything in ``image``; segments sorted by area, largest first.

        Args:
            image: ``H x W x 3`` uint8 RGB array, or anything :func:`~idseg.io.images.load_image`
                reads.
            embedding: A precomputed embedding of the whole image, reused for the first crop.

        Returns:
            The segments, with ``settings`` recording the parameters used.

        Example:
            >>> segs = EverythingGenerator(model).generate(image)  # doctest: +SKIP
            >>> [s.area for s in segs][:3]  # doctest: +SKIP
        """
        rgb = _as_rgb(image)
        data = self._generate_masks(rgb, embedding)
        return _post.data_to_segments(data, rgb.shape[:2], self.settings.to_dict())

    def generate_records(
        self, image: Any, *, embedding: ImageEmbedding | None = None
    ) -> list[dict[str, Any]]:
        """Meta's record dicts, in Meta's order (see ``SAM2AutomaticMaskGenerator.generate``).

        ``segmentation`` follows ``output_mode``; ``bbox`` and ``crop_box`` are XYWH.

        Example:
            >>> recs = EverythingGenerator(model, output_mode="coco_rle").generate_records(image)  # doctest: +SKIP
        """
        data = self._generate_masks(_as_rgb(image), embedding)
        return _post.data_to_records(data, self.settings.output_mode)

    @torch.inference_mode()
    def _generate_masks(self, image: np.ndarray, embedding: ImageEmbedding | None) -> MaskData:
        orig_hw = (int(image.shape[0]), int(image.shape[1]))
        if embedding is not None and tuple(embedding.orig_hw) != orig_hw:
            raise InputError(
                f"embedding is of a {embedding.orig_hw} image, but the image is {orig_hw}"
            )
        s = self.settings
        crop_boxes, layer_idxs = generate_crop_boxes(orig_hw, s.crop_n_layers, s.crop_overlap_ratio)
        data = MaskData()
        for crop_box, layer_idx in zip(crop_boxes, layer_idxs, strict=True):
            emb = embedding if layer_idx == 0 else None
            data.cat(self._process_crop(image, crop_box, layer_idx, orig_hw, emb))
        if len(crop_boxes) > 1 and len(data["rles"]) > 0:
            scores = 1 / box_area(data["crop_boxes"])
            data.filter(_post.box_nms(data["boxes"], scores, s.crop_nms_thresh))
        if s.min_mask_region_area > 0:
            nms_thresh = max(s.box_nms_thresh, s.crop_nms_thresh)
            _post.postprocess_small_regions(data, s.min_mask_region_area, nms_thresh)
        data.to_numpy()
        logger.debug(
            "segment-everything: %d masks from %d crops", len(data["rles"]), len(crop_boxes)
        )
        return data

    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: list[int],
        layer_idx: int,
        orig_hw: tuple[int, int],
        embedding: ImageEmbedding | None,
    ) -> MaskData:
        x0, y0, x1, y1 = crop_box
        cropped = image[y0:y1, x0:x1, :]
        crop_hw = (int(cropped.shape[0]), int(cropped.shape[1]))
        emb = embedding if embedding is not None else self.predictor.embed(cropped)
        points = self.point_grids[layer_idx] * np.array(crop_hw)[None, ::-1]
        if self._fast_predictor is not None:
            n_side = math.isqrt(len(points)) if self.settings.points_per_side else None
            data = FastCrop(self, emb, crop_box, crop_hw, orig_hw).run(points, n_side)
        else:
            data = MaskData()
            for (batch,) in batch_iterator(self.settings.points_per_batch, points):
                data.cat(self._process_batch(emb, batch, crop_box, crop_hw, orig_hw))
            nms = _post.box_nms(data["boxes"], data["iou_preds"], self.settings.box_nms_thresh)
            data.filter(nms)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        n = len(data["rles"])
        data["crop_boxes"] = torch.tensor([crop_box] * n, dtype=torch.int64).reshape(n, 4)
        logger.debug("crop %s (layer %d): %d masks", crop_box, layer_idx, n)
        return data

    def _decode_candidates(
        self, emb: ImageEmbedding, points: np.ndarray, crop_hw: tuple[int, int]
    ) -> MaskData:
        """Decode grid points (crop pixels) into the candidates worth upsampling.

        Keeps those whose predicted IoU passes ``pred_iou_thresh`` and whose stability score can
        still reach ``stability_score_thresh`` (an upper bound from the low-resolution logits;
        never drops a mask Meta keeps). Shared by exact and fast mode.

        Returns:
            ``MaskData`` with ``low_res`` (``N x h x w`` logits), ``iou_preds`` and ``points``.
        """
        s, pred = self.settings, self.decoding_predictor
        pts = torch.as_tensor(points, dtype=torch.float32, device=pred.device)
        coords = pred.to_model_coords(points, crop_hw)  # float32 first, as Meta's transform
        labels = torch.ones((len(pts), 1), dtype=torch.int32, device=pred.device)
        low_res, iou = pred.decode(emb, coords[:, None, :], labels, None, s.multimask_output)
        n_out = low_res.shape[1]
        data = MaskData(
            low_res=low_res.flatten(0, 1),
            iou_preds=iou.flatten(0, 1),
            points=pts.repeat_interleave(n_out, dim=0),
        )
        del low_res
        if s.use_m2m:
            coords = coords.repeat_interleave(n_out, dim=0)
            data["low_res"], data["iou_preds"] = self._refine_m2m(emb, coords, data["low_res"])
        if s.pred_iou_thresh > 0.0:
            data.filter(data["iou_preds"] > s.pred_iou_thresh)
        if s.stability_score_thresh > 0.0:
            bound = stability_upper_bound(
                data["low_res"], crop_hw, s.mask_threshold, s.stability_score_offset
            )
            data.filter(bound >= s.stability_score_thresh)
        return data

    def _process_batch(
        self,
        emb: ImageEmbedding,
        points: np.ndarray,
        crop_box: list[int],
        crop_hw: tuple[int, int],
        orig_hw: tuple[int, int],
    ) -> MaskData:
        s, pred = self.settings, self.predictor
        data = self._decode_candidates(emb, points, crop_hw)
        windowed = self.windowed
        if windowed is None:  # per-mask windows beat batched upsampling on a CPU, not a GPU
            windowed = data["low_res"].device.type == "cpu"
        if windowed:
            data["masks"], data["stability_score"] = windowed_binarise(
                data["low_res"], crop_hw, s.mask_threshold, s.stability_score_offset
            )
        else:
            data["masks"], data["stability_score"] = _post.binarise_logits(
                data["low_res"], crop_hw, pred.upscale, s.mask_threshold, s.stability_score_offset
            )
        del data["low_res"]
        if s.stability_score_thresh > 0.0:
            data.filter(data["stability_score"] >= s.stability_score_thresh)
        data["boxes"] = batched_mask_to_box(data["masks"])
        keep = ~is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, orig_hw[1], orig_hw[0]])
        if not torch.all(keep):
            data.filter(keep)
        data["rles"] = mask_to_rle_pytorch(uncrop_masks(data["masks"], crop_box, *orig_hw))
        del data["masks"]
        return data

    def _refine_m2m(
        self,
        emb: ImageEmbedding,
        coords: torch.Tensor,
        low_res: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode each candidate's point (model frame) again with its clamped logits as mask input."""
        labels = torch.ones(len(coords), dtype=torch.int32, device=coords.device)
        mask_input = torch.clamp(low_res, -LOGIT_CLAMP, LOGIT_CLAMP)
        new_logits, new_iou = [], []
        pred = self.decoding_predictor
        for c, lab, m in batch_iterator(self.settings.points_per_batch, coords, labels, mask_input):
            out, iou = pred.decode(emb, c[:, None], lab[:, None], m[:, None], False)
            new_logits.append(out[:, 0])
            new_iou.append(iou[:, 0])
        if not new_logits:
            return low_res[:, :0], low_res.new_zeros(0)
        return torch.cat(new_logits), torch.cat(new_iou)


def _fast_predictor(predictor: SAM2Predictor, s: EverythingSettings) -> SAM2Predictor:
    """The predictor fast mode decodes with: ``predictor``, or a bf16-decoding sibling."""
    want = s.fast_dtype
    if want == "auto":
        want = "bfloat16" if bf16_is_fast(predictor.device) else "float32"
    if want == predictor.decode_dtype:
        return predictor
    logger.debug("fast mode decodes in %s", want)
    return SAM2Predictor(
        predictor.model,
        mask_threshold=predictor.mask_threshold,
        fast_decoder=predictor._fast is not None,
        embed_dtype=predictor.embed_dtype,
        decode_dtype=want,
    )


def segment_everything(
    predictor_or_model: SAM2Predictor | SAM2Base,
    image: Any,
    settings: EverythingSettings | None = None,
    preset: str = "default",
    **overrides: Any,
) -> Segments:
    """Segment everything in one image (see :class:`EverythingGenerator`).

    Args:
        predictor_or_model: A :class:`SAM2Predictor` or a SAM2 model.
        image: ``H x W x 3`` uint8 RGB array, or anything ``load_image`` reads.
        settings: Full settings; when given, ``preset`` is ignored.
        preset: Named preset used when ``settings`` is ``None``.
        **overrides: Individual parameters on top of ``settings`` or the preset.

    Returns:
        The segments, largest first.

    Example:
        >>> segs = segment_everything(model, image, preset="documents")  # doctest: +SKIP
    """
    if settings is None:
        settings, overrides = _settings.preset(preset, **overrides), {}
    return EverythingGenerator(predictor_or_model, settings, **overrides).generate(image)
