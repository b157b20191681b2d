"""Settings of segment-everything: every parameter of Meta's generator, and named presets.

:class:`EverythingSettings` has exactly the parameters and defaults of Meta's
``SAM2AutomaticMaskGenerator``. The one difference in meaning is ``min_mask_region_area``: idseg
removes small islands and fills small holes in *image pixels*, on the CPU as well (Meta passes it to
a post-processing step on the low-resolution logits that needs SAM2's CUDA extension and is silently
skipped without it).

Presets:

``default``
    Meta's defaults.
``dense``
    The "dense search" tuning for small objects and against over-segmentation: 64 points per
    side, ``pred_iou_thresh`` 0.85, ``stability_score_thresh`` 0.90, ``min_mask_region_area`` 500,
    ``box_nms_thresh`` 0.7, no crop layers.
``fast``
    Meta's defaults in fast mode (see :mod:`idseg.sam.everything_fast`): much faster, close to
    but not the same masks as ``default``.
``documents``
    Cards and pages in photos. Documents are large, flat, convex objects that fill a good part of
    the frame, and their fields are mid-sized blocks; tiny masks are glyphs and guilloche noise.
    So: 24 points per side (a card spans many grid cells, so a coarser grid still hits every
    field and costs 56 % of the default's decoder work), ``pred_iou_thresh`` 0.86 and
    ``stability_score_thresh`` 0.92 (accept the slightly softer masks laminate glare produces),
    ``box_nms_thresh`` 0.6 (fields inside a card have nested, strongly overlapping boxes; a lower
    threshold removes near-duplicate field masks), ``min_mask_region_area`` 400 (fills the holes
    printed text punches into a document or field mask and drops specks), no crop layers (the
    objects are large; crops mostly add duplicates).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from idseg.errors import ConfigError, InputError

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
MODES = ("exact", "fast")
FAST_DTYPES = ("auto", "bfloat16", "bfloat16-full", "float32")
#: Settings of idseg's own (not parameters of Meta's ``SAM2AutomaticMaskGenerator``).
IDSEG_ONLY = ("mode", "fast_coarse_step", "fast_skip_area", "fast_dtype")


@dataclass
class EverythingSettings:
    """Parameters of segment-everything (names and defaults of Meta's generator).

    Attributes:
        points_per_side: Grid points along one side; ``None`` when ``point_grids`` is given.
        points_per_batch: Points decoded together.
        pred_iou_thresh: Keep masks whose predicted IoU is above this (0 disables).
        stability_score_thresh: Keep masks whose stability score is at least this (0 disables).
        stability_score_offset: Logit offset used for the stability score (>= 0).
        mask_threshold: Logit threshold that binarises masks.
        box_nms_thresh: Box IoU above which duplicates within a crop are suppressed.
        crop_n_layers: Extra layers of image crops (layer ``i`` has ``(2**i)**2`` crops).
        crop_nms_thresh: Box IoU for suppressing duplicates between crops.
        crop_overlap_ratio: Overlap of crops as a fraction of the image side (first layer).
        crop_n_points_downscale_factor: Points per side shrink by this factor per layer.
        point_grids: Explicit grids (``N x 2`` in ``[0, 1]``), one per crop layer.
        min_mask_region_area: Remove islands and fill holes smaller than this, in image pixels.
        output_mode: ``binary_mask``, ``uncompressed_rle`` or ``coco_rle`` (Meta-style records).
        use_m2m: Refine each mask once more with its own low-resolution logits.
        multimask_output: Three candidates per point instead of one.
        mode: ``"exact"`` (Meta's algorithm, the same masks) or ``"fast"`` (coarse-to-fine points,
            filters on low-resolution logits, bf16 decoding; see
            :mod:`idseg.sam.everything_fast`). idseg only, not a parameter of Meta's generator.
        fast_coarse_step: Fast mode: the first pass decodes every ``n``-th row and column of the
            grid (1 decodes every point in one pass).
        fast_skip_area: Fast mode: a later point is skipped when it lies inside an accepted mask
            covering less than this share of the crop (0 never skips).
        fast_dtype: Fast mode's decoder precision: ``"auto"`` (``bfloat16`` where the hardware
            has it, else ``float32``), ``"bfloat16"`` (upscaling in bf16), ``"bfloat16-full"``
            (the transformer too: faster, masks move more) or ``"float32"``; see
            :func:`~idseg.sam.predictor.bf16_is_fast`.

    Raises:
        InputError: A value of the wrong type or out of range (see :meth:`validate`).

    Example:
        >>> EverythingSettings(points_per_side=16).pred_iou_thresh
        0.8
        >>> EverythingSettings(pred_iou_thresh=1.5)
        Traceback (most recent call last):
        idseg.errors.InputError: pred_iou_thresh must be in [0, 1], got 1.5
    """

    points_per_side: int | None = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    point_grids: list[np.ndarray] | None = field(default=None, repr=False)
    min_mask_region_area: int = 0
    output_mode: str = "binary_mask"
    use_m2m: bool = False
    multimask_output: bool = True
    mode: str = "exact"
    fast_coarse_step: int = 1
    fast_skip_area: float = 0.02
    fast_dtype: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` for values Meta's generator would reject or misuse.

        Runs on construction; call it again after changing a field in place.

        Example:
            >>> settings = EverythingSettings()
            >>> settings.points_per_batch = 0
            >>> settings.validate()
            Traceback (most recent call last):
            idseg.errors.InputError: points_per_batch must be >= 1, got 0
        """
        _check_types(self)
        if (self.points_per_side is None) == (self.point_grids is None):
            given = "neither" if self.points_per_side is None else "both"
            raise InputError(
                f"give exactly one of points_per_side or point_grids, got {given} "
                f"(points_per_side={self.points_per_side!r}, point_grids="
                f"{'None' if self.point_grids is None else f'{len(self.point_grids)} grid(s)'})"
            )
        if self.points_per_side is not None and self.points_per_side < 1:
            raise InputError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise InputError(f"points_per_batch must be >= 1, got {self.points_per_batch}")
        for name in (
            "pred_iou_thresh",
            "stability_score_thresh",
            "box_nms_thresh",
            "crop_nms_thresh",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 <= self.crop_overlap_ratio < 1.0:
            raise InputError(f"crop_overlap_ratio must be in [0, 1), got {self.crop_overlap_ratio}")
        if self.stability_score_offset < 0:
            raise InputError(
                f"stability_score_offset must be >= 0, got {self.stability_score_offset}"
            )
        if self.crop_n_layers < 0 or self.crop_n_points_downscale_factor < 1:
            raise InputError(
                "crop_n_layers must be >= 0 and crop_n_points_downscale_factor >= 1, got "
                f"crop_n_layers={self.crop_n_layers} and "
                f"crop_n_points_downscale_factor={self.crop_n_points_downscale_factor}"
            )
        if self.min_mask_region_area < 0:
            raise InputError(f"min_mask_region_area must be >= 0, got {self.min_mask_region_area}")
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.fast_dtype not in FAST_DTYPES:
            raise InputError(f"fast_dtype must be one of {FAST_DTYPES}, got {self.fast_dtype!r}")
        if self.fast_coarse_step < 1:
            raise InputError(f"fast_coarse_step must be >= 1, got {self.fast_coarse_step}")
        if not 0.0 <= self.fast_skip_area <= 1.0:
            raise InputError(f"fast_skip_area must be in [0, 1], got {self.fast_skip_area}")
        if self.output_mode not in OUTPUT_MODES:
            raise InputError(f"output_mode must be one of {OUTPUT_MODES}, got {self.output_mode!r}")
        if self.point_grids is not None and len(self.point_grids) < self.crop_n_layers + 1:
            raise InputError(
                f"point_grids needs one grid per crop layer ({self.crop_n_layers + 1}), "
                f"got {len(self.point_grids)}"
            )
        _check_grids(self)

    def replace(self, **changes: Any) -> EverythingSettings:
        """A copy with some parameters changed (validated).

        Setting ``points_per_side`` clears ``point_grids`` and the other way round.

        Raises:
            InputError: An unknown parameter name, or a bad value.

        Example:
            >>> grid = EverythingSettings().replace(point_grids=[np.array([[0.5, 0.5]])])
            >>> grid.points_per_side, grid.replace(points_per_side=8).point_grids
            (None, None)
        """
        return dataclasses.replace(self, **_exclusive_grid(_known(changes)))

    def meta_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for Meta's ``SAM2AutomaticMaskGenerator`` (idseg-only ones left out).

        Example:
            >>> "mode" in EverythingSettings(mode="fast").meta_kwargs()
            False
        """
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in IDSEG_ONLY
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (point grids as nested lists).

        Example:
            >>> s = EverythingSettings(point_grids=[np.array([[0.5, 0.5]])], points_per_side=None)
            >>> s.to_dict()["point_grids"], s.to_dict()["output_mode"]
            ([[[0.5, 0.5]]], 'binary_mask')
        """
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.point_grids is not None:
            out["point_grids"] = [np.asarray(g).tolist() for g in self.point_grids]
        return out


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "dense": {
        "points_per_side": 64,
        "pred_iou_thresh": 0.85,
        "stability_score_thresh": 0.90,
        "min_mask_region_area": 500,
        "box_nms_thresh": 0.7,
        "crop_n_layers": 0,
    },
    "fast": {"mode": "fast"},
    "documents": {
        "points_per_side": 24,
        "pred_iou_thresh": 0.86,
        "stability_score_thresh": 0.92,
        "box_nms_thresh": 0.6,
        "min_mask_region_area": 400,
        "crop_n_layers": 0,
    },
}


def preset(name: str, **overrides: Any) -> EverythingSettings:
    """Settings of a named preset, with optional overrides.

    Args:
        name: ``default``, ``dense`` or ``documents`` (case-insensitive).
        **overrides: Any :class:`EverythingSettings` parameters, applied on top of the preset.

    Raises:
        ConfigError: An unknown preset name.
        InputError: An unknown parameter name, or a bad value.

    Example:
        >>> preset("dense").points_per_side
        64
        >>> preset("default", pred_iou_thresh=0.5).pred_iou_thresh
        0.5
    """
    key = name.strip().lower()
    if key not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; expected one of: {', '.join(PRESETS)}")
    return EverythingSettings(**{**PRESETS[key], **_exclusive_grid(_known(overrides))})


def _exclusive_grid(changes: dict[str, Any]) -> dict[str, Any]:
    """Setting one of ``points_per_side`` / ``point_grids`` clears the other."""
    changes = dict(changes)
    if changes.get("point_grids") is not None:
        changes.setdefault("points_per_side", None)
    elif changes.get("points_per_side") is not None:
        changes.setdefault("point_grids", None)
    return changes


_INT_FIELDS = (
    "points_per_batch",
    "crop_n_layers",
    "crop_n_points_downscale_factor",
    "fast_coarse_step",
)
_REAL_FIELDS = (
    "pred_iou_thresh",
    "stability_score_thresh",
    "stability_score_offset",
    "mask_threshold",
    "box_nms_thresh",
    "crop_nms_thresh",
    "crop_overlap_ratio",
    "min_mask_region_area",
    "fast_skip_area",
)
_BOOL_FIELDS = ("use_m2m", "multimask_output")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_types(s: EverythingSettings) -> None:
    """Wrong types raise :class:`InputError` here instead of ``TypeError`` deep in generation."""
    names = list(_INT_FIELDS) + ([] if s.points_per_side is None else ["points_per_side"])
    for name in names:
        if not _is_int(getattr(s, name)):
            raise InputError(f"{name} must be an integer, got {getattr(s, name)!r}")
    for name in _REAL_FIELDS:
        value = getattr(s, name)
        if not (_is_int(value) or isinstance(value, (float, np.floating))) or not np.isfinite(
            value
        ):
            raise InputError(f"{name} must be a finite number, got {value!r}")
    for name in _BOOL_FIELDS:
        if not isinstance(getattr(s, name), (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {getattr(s, name)!r}")
    for name in ("output_mode", "mode", "fast_dtype"):
        if not isinstance(getattr(s, name), str):
            raise InputError(f"{name} must be a string, got {getattr(s, name)!r}")


def _check_grids(s: EverythingSettings) -> None:
    """Every crop layer must get at least one point, as an ``N x 2`` array of finite numbers."""
    if s.points_per_side is not None:
        smallest = s.points_per_side // s.crop_n_points_downscale_factor**s.crop_n_layers
        if smallest < 1:
            raise InputError(
                f"points_per_side {s.points_per_side} leaves no point in crop layer "
                f"{s.crop_n_layers} with crop_n_points_downscale_factor "
                f"{s.crop_n_points_downscale_factor}; use more points or fewer crop layers"
            )
        return
    for i, grid in enumerate(s.point_grids or []):
        try:
            arr = np.asarray(grid, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"point_grids[{i}] must be an N x 2 array of numbers: {exc}") from exc
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] != 2:
            raise InputError(f"point_grids[{i}] must be an N x 2 array (N >= 1), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise InputError(f"point_grids[{i}] must hold finite (x, y) in [0, 1], got NaN or inf")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise InputError(
                f"point_grids[{i}] must hold (x, y) normalised to [0, 1], got values in "
                f"[{arr.min():g}, {arr.max():g}]"
            )


def _known(changes: dict[str, Any]) -> dict[str, Any]:
    """Reject parameter names the generator does not have (instead of a ``TypeError``)."""
    names = {f.name for f in dataclasses.fields(EverythingSettings)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise InputError(
            f"unknown segment-everything parameter(s) {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(names))}"
        )
    return changes


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so the dict is JSON-serialisable."""
    return value.item() if isinstance(value, np.generic) else value
