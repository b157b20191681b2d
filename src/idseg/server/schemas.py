"""Request bodies of the HTTP API (validated before any model work: bad values get 422)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MaskFormat = Literal["rle", "polygons", "png"]
#: One format, or several (each mask then carries each of them).
Formats = MaskFormat | list[MaskFormat]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PromptRequest(_Strict):
    """Points (``x, y`` pixels) with labels (1 add, 0 remove), an optional box, refinement."""

    points: list[tuple[float, float]] = Field(default_factory=list)
    labels: list[Literal[0, 1]] = Field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    refine: bool = Field(False, description="Use a mask of the previous answer as mask input.")
    candidate: int = Field(0, ge=0, le=2, description="With refine: which mask (0 = the best).")
    multimask: bool = Field(True, description="Three candidates (best for a single click).")
    format: Formats = "rle"


class BoxesRequest(_Strict):
    """Many boxes (XYXY pixels) answered at once, one mask each."""

    boxes: list[tuple[float, float, float, float]] = Field(min_length=1)
    format: Formats = "rle"


class EverythingRequest(_Strict):
    """Segment-everything on the session's image: a preset plus a few common overrides."""

    preset: Literal["default", "dense", "fast", "documents"] = "default"
    mode: Literal["exact", "fast"] | None = None
    points_per_side: int | None = Field(None, ge=1, le=64)
    pred_iou_thresh: float | None = Field(None, ge=0.0, le=1.0)
    stability_score_thresh: float | None = Field(None, ge=0.0, le=1.0)
    min_mask_region_area: int | None = Field(None, ge=0)
    format: Formats = "polygons"
