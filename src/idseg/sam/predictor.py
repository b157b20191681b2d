"""Prompted segmentation: embed an image once, answer many prompts.

Coordinates are pixels of the original image: points are ``(x, y)``, boxes XYXY, point labels are
1 (foreground) and 0 (background). The image is an ``H x W x 3`` uint8 RGB array (or anything
:func:`idseg.io.images.load_image` reads). Like Meta's ``SAM2ImagePredictor``, the image is resized to
the model's square input (1024 for the official models) *without* keeping the aspect ratio, and
masks are upsampled from the ``image_size / 4`` logits straight to the original size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from idseg.errors import InputError
from idseg.sam.fast_decoder import FastMaskDecoder, supports_fast_decoder
from idseg.sam.prompts import Prompts, build_prompts, check_in_image
from idseg.sam.results import Masks, masks_to_boxes
from idseg.sam.transforms import ImageEmbedding, image_to_tensor

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

    from idseg.geometry import Polygon

logger = logging.getLogger(__name__)

#: Logits returned for refinement are clamped like Meta's predictor does.
LOGIT_CLAMP = 32.0


def _as_rgb(image: Any) -> np.ndarray:
    if (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        return image
    from idseg.io.images import load_image

    return load_image(image)


#: Precisions of :class:`SAM2Predictor`'s decoder (``decode_dtype``).
DECODE_DTYPES = ("float32", "bfloat16", "bfloat16-full")


def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 matrix products are native (and so faster than fp32) on ``device``.

    True on CUDA devices that support bf16 and on CPUs with AVX512-BF16 or AMX tiles.

    Example:
        >>> isinstance(bf16_is_fast("cpu"), bool)
        True
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


class SAM2Predictor:
    """Embed an image once with SAM2, then answer point, box and mask prompts cheaply.

    Args:
        model: A SAM2 model (see :func:`idseg.models.load_sam2`).
        mask_threshold: Logit threshold that turns mask logits into boolean masks.
        fast_decoder: Evaluate the mask decoder with :class:`~idseg.sam.fast_decoder.FastMaskDecoder`
            (the same function on the same weights, reorganised; about 4x faster on a CPU, equal
            to Meta's up to float rounding). ``False`` runs Meta's module as is.
        embed_dtype: ``"float32"`` (default) or ``"bfloat16"``: the image encoder under bf16
            autocast (about 2x faster on CPUs with AMX or AVX512-BF16, masks within IoU 0.98 of
            fp32 in ``benchmarks/sam2_speed.py``); the features are returned as float32.
        decode_dtype: ``"float32"`` (default) or ``"bfloat16"``: the fast decoder's upscaling
            and hypernetwork product on bf16 copies of their weights (about 1.6x faster per
            prompt on CPUs with AVX512-BF16 or AMX; logits differ from fp32 by bf16 rounding).
            ``"bfloat16-full"`` runs the two-way transformer in bf16 too (another 1.6x; masks
            of a weak model move more: mean IoU 0.97). Needs ``fast_decoder``; decoders it
            cannot run stay float32. See :func:`bf16_is_fast`.

    Example:
        >>> predictor = SAM2Predictor.from_pretrained("sam2.1_hiera_tiny")  # doctest: +SKIP
        >>> predictor.set_image("card.jpg")  # doctest: +SKIP
        >>> answer = predictor.predict(points=[[420, 310]], labels=[1])  # doctest: +SKIP
        >>> mask = answer.best()[0]  # boolean H x W  # doctest: +SKIP
    """

    def __init__(
        self,
        model: SAM2Base,
        mask_threshold: float = 0.0,
        fast_decoder: bool = True,
        embed_dtype: str = "float32",
        decode_dtype: str = "float32",
    ) -> None:
        if embed_dtype not in ("float32", "bfloat16"):
            raise InputError(f"embed_dtype must be 'float32' or 'bfloat16', got {embed_dtype!r}")
        if decode_dtype not in DECODE_DTYPES:
            raise InputError(f"decode_dtype must be one of {DECODE_DTYPES}, got {decode_dtype!r}")
        self.embed_dtype = embed_dtype
        self.decode_dtype = decode_dtype
        self.model = model
        self.mask_threshold = float(mask_threshold)
        self.image_size = int(model.image_size)
        self.low_res_size = self.image_size // 4
        self._embedding: ImageEmbedding | None = None
        bf16, fp32 = torch.bfloat16, torch.float32
        dtype = bf16 if decode_dtype.startswith("bfloat16") else fp32
        transformer = bf16 if decode_dtype == "bfloat16-full" else fp32
        self._fast = (
            FastMaskDecoder(model, dtype=dtype, transformer_dtype=transformer)
            if fast_decoder and supports_fast_decoder(model)
            else None
        )

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str | Path | None = None,
        config: str | Path | None = None,
        device: str = "auto",
        offline: bool | None = None,
        **kwargs: Any,
    ) -> SAM2Predictor:
        """Load a checkpoint (path, registry name or URL) and wrap it in a predictor.

        Args:
            checkpoint: Local path, registry name (``sam2.1_hiera_tiny``) or https URL; ``None``
                uses ``SAM2_CHECKPOINT_URL`` when set.
            config: Config name or YAML path; inferred from the checkpoint when omitted.
            device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``.
            offline: Never open a socket; ``None`` defers to ``IDSEG_OFFLINE``.
            **kwargs: Passed to the constructor (``mask_threshold``).

        Raises:
            ConfigError: No checkpoint, or no config given and none can be inferred.
            CheckpointError: The checkpoint cannot be found, read or does not fit the config.
            DownloadError: The download failed or the hash did not match.

        Example:
            >>> predictor = SAM2Predictor.from_pretrained("sam2.1_hiera_tiny")  # doctest: +SKIP
        """
        from idseg.models.sam2 import load_sam2

        return cls(load_sam2(checkpoint, config, device=device, offline=offline), **kwargs)

    @property
    def device(self) -> torch.device:
        """The model's device.

        Example:
            >>> predictor.device  # doctest: +SKIP
            device(type='cpu')
        """
        return next(self.model.parameters()).device

    @property
    def embedding(self) -> ImageEmbedding:
        """The current image's embedding; raises :class:`InputError` when no image is set.

        Example:
            >>> predictor.set_image("card.jpg")  # doctest: +SKIP
            >>> predictor.embedding.orig_hw  # doctest: +SKIP
            (600, 950)
        """
        if self._embedding is None:
            raise InputError("no image is set: call set_image(image) before predicting")
        return self._embedding

    @property
    def image_hw(self) -> tuple[int, int]:
        """``(height, width)`` of the current image.

        Example:
            >>> predictor.set_image(np.zeros((600, 950, 3), np.uint8))  # doctest: +SKIP
            >>> predictor.image_hw  # doctest: +SKIP
            (600, 950)
        """
        return self.embedding.orig_hw

    @property
    def is_image_set(self) -> bool:
        """Whether an image has been embedded.

        Example:
            >>> predictor.reset_image()  # doctest: +SKIP
            >>> predictor.is_image_set  # doctest: +SKIP
            False
        """
        return self._embedding is not None

    @torch.inference_mode()
    def embed(self, image: Any) -> ImageEmbedding:
        """Compute the embedding of an image without making it the current one.

        Args:
            image: HWC uint8 RGB array, file path, encoded bytes or PIL image.

        Returns:
            The embedding; pass it to :meth:`predict` or :meth:`set_embedding`.

        Raises:
            ImageError: The image cannot be read.
            InputError: The array is not an image.

        Example:
            >>> embedding = predictor.embed("card.jpg")  # doctest: +SKIP
            >>> answer = predictor.predict([[420, 310]], embedding=embedding)  # doctest: +SKIP
        """
        rgb = _as_rgb(image)
        x = image_to_tensor(rgb, self.image_size, self.device)
        low = self.embed_dtype == "bfloat16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=low):
            backbone_out = self.model.forward_image(x)
        _, vision_feats, _, feat_sizes = self.model._prepare_backbone_features(backbone_out)
        vision_feats = [f.float() for f in vision_feats]
        if self.model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        feats = [
            feat.permute(1, 2, 0).reshape(1, -1, *size)
            for feat, size in zip(vision_feats, feat_sizes, strict=True)
        ]
        return ImageEmbedding(feats[-1], feats[:-1], (int(rgb.shape[0]), int(rgb.shape[1])))

    def set_image(self, image: Any) -> None:
        """Embed ``image`` (array, path, bytes or PIL image) and make it the current image.

        Example:
            >>> predictor.set_image("card.jpg")  # doctest: +SKIP
            >>> predictor.is_image_set  # doctest: +SKIP
            True
        """
        self._embedding = self.embed(image)

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Make a previously computed embedding the current image (e.g. from a session cache).

        Example:
            >>> cache = {"card.jpg": predictor.embed("card.jpg")}  # doctest: +SKIP
            >>> predictor.set_embedding(cache["card.jpg"])  # doctest: +SKIP
        """
        self._embedding = embedding

    def reset_image(self) -> None:
        """Forget the current image.

        Example:
            >>> predictor.reset_image()  # doctest: +SKIP
            >>> predictor.is_image_set  # doctest: +SKIP
            False
        """
        self._embedding = None

    def to_model_coords(
        self, xy: np.ndarray | torch.Tensor, orig_hw: tuple[int, int]
    ) -> torch.Tensor:
        """Map ``(x, y)`` image pixels (any leading shape) to the model's input frame.

        Example:
            >>> predictor.image_size  # doctest: +SKIP
            1024
            >>> predictor.to_model_coords(np.array([[475, 300]]), (600, 950))  # doctest: +SKIP
            tensor([[512., 512.]])
        """
        h, w = orig_hw
        t = torch.as_tensor(xy, dtype=torch.float32, device=self.device).clone()
        t[..., 0] = t[..., 0] / w
        t[..., 1] = t[..., 1] / h
        return t * self.image_size

    @torch.inference_mode()
    def decode(
        self,
        embedding: ImageEmbedding,
        coords: torch.Tensor | None,
        labels: torch.Tensor | None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the prompt encoder and mask decoder on prompts already in the model frame.

        Args:
            embedding: The image embedding.
            coords: ``B x N x 2`` points in the model frame (boxes as two corner points with
                labels 2 and 3, placed first), or ``None``.
            labels: ``B x N`` int labels, or ``None``.
            mask_input: ``B x 1 x h x w`` low-resolution logits, or ``None``.
            multimask_output: Three candidates per prompt set instead of one.

        Returns:
            ``(low_res_logits B x C x h x w, iou_predictions B x C)``.

        Example:
            >>> xy = predictor.to_model_coords(np.array([[[420, 310]]]), (600, 950))  # doctest: +SKIP
            >>> one = torch.ones(1, 1, dtype=torch.int32)  # doctest: +SKIP
            >>> low_res, iou = predictor.decode(predictor.embedding, xy, one)  # doctest: +SKIP
            >>> tuple(low_res.shape), tuple(iou.shape)  # doctest: +SKIP
            ((1, 3, 256, 256), (1, 3))
        """
        points = (coords, labels) if coords is not None else None
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
        if self._fast is not None:
            dense_in = None if mask_input is None else dense
            return self._fast.decode(embedding, sparse, dense_in, multimask_output)
        batched = coords is not None and coords.shape[0] > 1
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=embedding.image_embed,
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=batched,
            high_res_features=embedding.high_res_feats,
        )
        return low_res, iou

    def upscale(self, low_res: torch.Tensor, orig_hw: tuple[int, int]) -> torch.Tensor:
        """Bilinearly upsample ``B x C x h x w`` logits to the original image size.

        Example:
            >>> predictor.upscale(torch.zeros(1, 3, 256, 256), (600, 950)).shape  # doctest: +SKIP
            torch.Size([1, 3, 600, 950])
        """
        return F.interpolate(low_res.float(), orig_hw, mode="bilinear", align_corners=False)

    def _model_prompts(
        self, prompts: Prompts, orig_hw: tuple[int, int], start: int, stop: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        coords = labels = mask = None
        if prompts.boxes is not None:
            corners = prompts.boxes[start:stop].reshape(-1, 2, 2)
            coords = self.to_model_coords(corners, orig_hw)
            labels = torch.tensor([[2, 3]], dtype=torch.int32, device=self.device)
            labels = labels.repeat(coords.shape[0], 1)
        if prompts.points is not None and prompts.labels is not None:
            pts = self.to_model_coords(prompts.points[start:stop], orig_hw)
            lab = torch.as_tensor(prompts.labels[start:stop], device=self.device)
            coords = pts if coords is None else torch.cat([coords, pts], dim=1)
            labels = lab if labels is None else torch.cat([labels, lab], dim=1)
        if prompts.mask_input is not None:
            mask = torch.as_tensor(prompts.mask_input[start:stop], device=self.device)
        return coords, labels, mask

    def predict(
        self,
        points: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        boxes: ArrayLike | None = None,
        mask_input: ArrayLike | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        embedding: ImageEmbedding | None = None,
        batch_size: int = 32,
    ) -> Masks:
        """Answer prompts on the current image (or on ``embedding``).

        Args:
            points: ``N x 2`` ``(x, y)`` pixels, or ``B x N x 2`` for ``B`` prompt sets.
            labels: ``N`` (or ``B x N``) labels, 1 foreground / 0 background; default all 1.
            boxes: One XYXY box, or ``B x 4`` boxes answered in one call (points given as ``N x 2``
                then apply to every box).
            mask_input: Low-resolution logits from a previous answer (``1 x h x w``), for refinement.
            multimask_output: Return three candidates per prompt set (best for a single click).
            return_logits: Keep full-resolution logits in ``masks`` (float) instead of booleans.
            embedding: Answer on this embedding instead of the current image.
            batch_size: Prompt sets decoded together (bounds memory for many boxes).

        Returns:
            :class:`~idseg.sam.results.Masks` with ``B x C`` masks, scores, logits and boxes.

        Raises:
            InputError: No image set, no prompt, or malformed prompts.

        Example:
            >>> predictor.set_image("card.jpg")  # doctest: +SKIP
            >>> answer = predictor.predict(boxes=[100, 80, 700, 520])  # doctest: +SKIP
            >>> answer.masks.shape, answer.scores.shape  # doctest: +SKIP
            ((1, 3, 600, 950), (1, 3))
        """
        emb = embedding if embedding is not None else self.embedding
        prompts = build_prompts(points, labels, boxes, mask_input, self.low_res_size)
        check_in_image(prompts, emb.orig_hw)
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        outs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, prompts.batch, batch_size):
            stop = min(start + batch_size, prompts.batch)
            outs.append(
                self._predict_chunk(emb, prompts, start, stop, multimask_output, return_logits)
            )
        masks = np.concatenate([o[0] for o in outs])
        binary = masks > self.mask_threshold if return_logits else masks
        return Masks(
            masks=masks,
            scores=np.concatenate([o[1] for o in outs]),
            low_res_logits=np.concatenate([o[2] for o in outs]),
            boxes=masks_to_boxes(binary),
        )

    @torch.inference_mode()
    def _predict_chunk(
        self,
        emb: ImageEmbedding,
        prompts: Prompts,
        start: int,
        stop: int,
        multimask_output: bool,
        return_logits: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        coords, labels, mask = self._model_prompts(prompts, emb.orig_hw, start, stop)
        low_res, iou = self.decode(emb, coords, labels, mask, multimask_output)
        full = self.upscale(low_res, emb.orig_hw)
        masks = full if return_logits else full > self.mask_threshold
        low_res = torch.clamp(low_res, -LOGIT_CLAMP, LOGIT_CLAMP)
        return (
            masks.cpu().numpy(),
            iou.float().cpu().numpy(),
            low_res.float().cpu().numpy(),
        )

    def refine(
        self,
        previous: Masks,
        points: ArrayLike,
        labels: ArrayLike | None = None,
        boxes: ArrayLike | None = None,
        index: int | None = None,
    ) -> Masks:
        """Click refinement: re-predict with all clicks so far and the previous answer's logits.

        Args:
            previous: The previous answer (one prompt set).
            points: All clicks so far (``N x 2``), not only the new one.
            labels: Their labels.
            boxes: The box, if the object was started from one.
            index: Which candidate of ``previous`` to refine; default its best.

        Returns:
            A single-candidate answer (``multimask_output=False``, as SAM does for refinement).

        Raises:
            InputError: ``previous`` holds more than one prompt set, ``index`` is out of range,
                or the prompts are malformed.

        Example:
            >>> first = predictor.predict(points=[[420, 310]], labels=[1])  # doctest: +SKIP
            >>> better = predictor.refine(first, [[420, 310], [90, 40]], [1, 0])  # doctest: +SKIP
        """
        if len(previous) != 1:
            raise InputError(
                f"refine takes a previous answer for one prompt set, got {len(previous)}"
            )
        idx = int(previous.best_index()[0]) if index is None else index
        if not 0 <= idx < previous.low_res_logits.shape[1]:
            raise InputError(f"index must be in [0, {previous.low_res_logits.shape[1]}), got {idx}")
        logits = previous.low_res_logits[0, idx][None]
        return self.predict(points, labels, boxes, mask_input=logits, multimask_output=False)

    def box_to_mask(self, box: ArrayLike) -> np.ndarray:
        """The single best mask for one XYXY box, boolean ``H x W``.

        Example:
            >>> predictor.box_to_mask([100, 80, 700, 520]).shape  # doctest: +SKIP
            (600, 950)
        """
        return self.predict(boxes=box, multimask_output=False).masks[0, 0]

    def boxes_to_masks(self, boxes: ArrayLike) -> np.ndarray:
        """One mask per box for many boxes in one call, boolean ``B x H x W``.

        Example:
            >>> predictor.boxes_to_masks([[100, 80, 700, 520], [0, 0, 50, 90]]).shape  # doctest: +SKIP
            (2, 600, 950)
        """
        return self.predict(boxes=boxes, multimask_output=False).masks[:, 0]

    def box_to_polygons(self, box: ArrayLike, tolerance: float = 1.0) -> list[Polygon]:
        """Polygons (simplified, holes kept) of the mask a box prompt gives.

        Example:
            >>> outline = predictor.box_to_polygons([100, 80, 700, 520])[0]  # doctest: +SKIP
        """
        from idseg.geometry import mask_to_polygons

        return mask_to_polygons(self.box_to_mask(box), tolerance=tolerance)

    def box_to_quad(self, box: ArrayLike) -> np.ndarray | None:
        """A 4-corner quad (clockwise from top-left) fitted to the mask a box prompt gives.

        Returns:
            A ``4 x 2`` array of ``(x, y)`` corners, or ``None`` when no quad fits the mask.

        Example:
            >>> quad = predictor.box_to_quad([100, 80, 700, 520])  # doctest: +SKIP
        """
        from idseg.geometry import fit_quad

        return fit_quad(self.box_to_mask(box))


__all__ = ["ImageEmbedding", "SAM2Predictor", "image_to_tensor", "masks_to_boxes"]
