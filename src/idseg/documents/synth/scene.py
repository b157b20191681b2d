"""Compose a photo of documents: background, clutter, placement, occluders, light, blur, noise.

:func:`compose_scene` lays rendered flat documents into a procedural scene and returns the image
with its exact ground truth. Layering, bottom to top: background texture, clutter, documents in
list order (later ones cover earlier ones), occluders (fingers, hands, objects). The class mask
says, per pixel, the class of the topmost thing there: ``0`` background (also under occluders),
``1`` document, or a field class. Photometric effects run last and never move anything (see
:mod:`idseg.documents.synth.photometric` for the one caveat: blur smears edges by a pixel or two).

:func:`compose_scene` takes whatever documents it is given; the dataset writer
(:mod:`idseg.documents.synth.dataset_sample`) gives it documents of ONE template per scene, so
that a scene's template is its split group.

Coordinates are pixel centres (see :mod:`idseg.documents.synth.raster`). A document's quad is its
flat image rectangle ``(-0.5, -0.5) .. (W - 0.5, H - 0.5)`` mapped by its homography, clockwise
from the document's own top-left; corners may lie outside the frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from idseg.documents.classes import CLASS_NAMES, class_index
from idseg.documents.synth.backgrounds import random_background
from idseg.documents.synth.camera import place, random_pose
from idseg.documents.synth.clutter import add_clutter
from idseg.documents.synth.occluders import add_occluders
from idseg.documents.synth.photometric import apply_effects
from idseg.documents.synth.raster import image_corners
from idseg.documents.synth.scene_options import MAX_DOCUMENTS, SceneOptions
from idseg.documents.synth.scene_types import Scene, SceneField, SceneInstance
from idseg.documents.synth.sprites import Sprite, cast_shadow
from idseg.documents.synth.warp import composite, layer_fields, map_polygon, warp_document
from idseg.errors import InputError
from idseg.geometry import polygon_area

if TYPE_CHECKING:
    from idseg.documents.synth.render import RenderedDocument

logger = logging.getLogger(__name__)

__all__ = [
    "Scene",
    "SceneField",
    "SceneInstance",
    "SceneOptions",
    "ScenePlan",
    "compose_scene",
    "plan_scene",
]


def _check(documents: list[RenderedDocument], size: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in size)
    if not (16 <= h <= 8192 and 16 <= w <= 8192):
        raise InputError(f"size must be (height, width) within 16..8192 pixels, got {size!r}")
    if len(documents) > MAX_DOCUMENTS:
        raise InputError(f"at most {MAX_DOCUMENTS} documents per scene, got {len(documents)}")
    for doc in documents:
        img, alpha = np.asarray(doc.image), np.asarray(doc.alpha)
        if (
            img.ndim != 3
            or img.shape[2] != 3
            or img.dtype != np.uint8
            or alpha.shape != img.shape[:2]
        ):
            raise InputError(
                f"a document needs an H x W x 3 uint8 image and an H x W alpha, got {img.shape} "
                f"{img.dtype} and {alpha.shape}"
            )
    return h, w


@dataclass(frozen=True)
class ScenePlan:
    """Decisions made before documents are rendered, so they can be rendered at the right size.

    Attributes:
        scales: Per document, the share of the frame it spans in its larger direction.
        overlap: Whether documents may overlap (otherwise they are kept apart).
    """

    scales: tuple[float, ...]
    overlap: bool


def plan_scene(
    rng: np.random.Generator, count: int, options: SceneOptions | None = None
) -> ScenePlan:
    """Draw the scale of ``count`` documents and whether they may overlap.

    Scales lean towards the top of the range (``lo + (hi - lo) * sqrt(u)``: most photos of a
    document are taken close up). Documents kept apart are smaller (the top of the range shrinks
    by ``sqrt(count)``).

    Example:
        >>> plan = plan_scene(np.random.default_rng(0), 2, SceneOptions(p_overlap=0.0))
        >>> len(plan.scales), plan.overlap, max(plan.scales) <= 0.95 / 2**0.5
        (2, False, True)
    """
    opts = options or SceneOptions()
    overlap = count > 1 and rng.random() < opts.p_overlap
    lo, hi = opts.scale
    if count > 1 and not overlap:
        hi = max(lo, hi / math.sqrt(count))
    scales = lo + (hi - lo) * np.sqrt(rng.random(count))
    return ScenePlan(tuple(float(v) for v in scales), bool(overlap))


def _placements(
    rng: np.random.Generator,
    documents: list[RenderedDocument],
    hw: tuple[int, int],
    opts: SceneOptions,
    plan: ScenePlan,
) -> list[np.ndarray]:
    """A homography per document; documents avoid each other unless the plan allows overlap."""
    placed: list[np.ndarray] = []
    quads: list[np.ndarray] = []
    for doc, scale in zip(documents, plan.scales, strict=True):
        flat_wh = (doc.alpha.shape[1], doc.alpha.shape[0])
        pose = random_pose(rng, opts.max_tilt_deg, opts.fov_deg, opts.p_upright)
        out = rng.random() < opts.p_out_of_frame
        matrix = None
        for attempt in range(4):
            avoid = [] if plan.overlap or attempt == 3 else quads
            matrix = place(rng, pose, flat_wh, hw, scale * 0.8**attempt, out and attempt < 3, avoid)
            if matrix is not None:
                break
        if matrix is None:  # pragma: no cover - an in-frame spot with nothing to avoid always fits
            raise RuntimeError("no placement found for a document")
        placed.append(matrix)
        quads.append(_quad(doc, matrix))
    return placed


def _quad(doc: RenderedDocument, matrix: np.ndarray) -> np.ndarray:
    return map_polygon(matrix, image_corners(doc.alpha.shape[1], doc.alpha.shape[0]))


def _unit(doc: RenderedDocument, quad: np.ndarray) -> float:
    """Scene pixels per millimetre of the document."""
    flat_px = float(doc.alpha.shape[0] * doc.alpha.shape[1])
    return math.sqrt(polygon_area(quad) / flat_px) * float(doc.px_per_mm)


def compose_scene(
    rng: np.random.Generator,
    documents: list[RenderedDocument],
    size: tuple[int, int],
    options: SceneOptions | None = None,
    plan: ScenePlan | None = None,
) -> Scene:
    """Lay ``documents`` (bottom to top) into a random scene of ``size = (height, width)``.

    An empty list makes a negative: background and clutter only, an all-zero class mask.

    Args:
        rng: The only source of randomness: the same state gives byte-identical scenes.
        documents: Flat documents (:class:`~idseg.documents.synth.render.RenderedDocument`).
        size: Scene ``(height, width)``.
        options: Effects and placement; default :class:`SceneOptions`.
        plan: Scales and overlap decided beforehand (:func:`plan_scene`); drawn here if omitted.

    Raises:
        InputError: A bad size, too many documents, a malformed document or plan, or bad options.

    Example:
        >>> scene = compose_scene(np.random.default_rng(0), [], (120, 160))
        >>> scene.image.shape, int(scene.class_mask.max())
        ((120, 160, 3), 0)
    """
    opts = (options or SceneOptions()).validated()
    h, w = _check(documents, size)
    canvas = random_background(rng, h, w)
    plan = plan or plan_scene(rng, len(documents), opts)
    if len(plan.scales) != len(documents) or not all(0.0 < v <= 1.5 for v in plan.scales):
        raise InputError(f"the plan needs one scale in (0, 1.5] per document, got {plan.scales}")
    matrices = _placements(rng, documents, (h, w), opts, plan)
    quads = [_quad(d, m) for d, m in zip(documents, matrices, strict=True)]
    units = [_unit(d, q) for d, q in zip(documents, quads, strict=True)]
    unit = float(np.mean(units)) if units else min(h, w) / float(rng.uniform(60.0, 250.0))
    if rng.random() < opts.p_clutter:
        add_clutter(rng, canvas, int(rng.integers(opts.clutter[0], opts.clutter[1] + 1)), unit)
    instance_map = np.zeros((h, w), np.uint8)
    field_map = np.zeros((h, w), np.uint16)
    instances, in_frame = _lay_documents(
        rng, canvas, documents, matrices, quads, instance_map, field_map, opts
    )
    occluder = add_occluders(rng, canvas, quads, units, unit, opts)
    instance_map[occluder] = 0
    field_map[occluder] = 0
    field_classes = np.zeros(1 + sum(len(i.fields) for i in instances), np.uint8)
    for inst in instances:
        for fld in inst.fields:
            field_classes[fld.id] = class_index(fld.cls)
    class_mask = np.where(
        field_map > 0, field_classes[field_map], (instance_map > 0).astype(np.uint8)
    )
    _statistics(instances, in_frame, instance_map, field_map, (h, w))
    image = apply_effects(rng, canvas, [i.quad for i in instances], instance_map, opts)
    return Scene(image, class_mask.astype(np.uint8), instances, occluder, instance_map, field_map)


def _lay_documents(
    rng: np.random.Generator,
    canvas: np.ndarray,
    documents: list[RenderedDocument],
    matrices: list[np.ndarray],
    quads: list[np.ndarray],
    instance_map: np.ndarray,
    field_map: np.ndarray,
    opts: SceneOptions,
) -> tuple[list[SceneInstance], list[int]]:
    instances: list[SceneInstance] = []
    in_frame: list[int] = []
    next_id = 1
    for k, (doc, matrix, quad) in enumerate(zip(documents, matrices, quads, strict=True)):
        fields: list[SceneField] = []
        for f in doc.fields:
            if f.cls not in CLASS_NAMES[2:]:
                raise InputError(
                    f"field {f.name!r} has class {f.cls!r}, expected one of {CLASS_NAMES[2:]}"
                )
            fields.append(
                SceneField(
                    f.cls, f.name, map_polygon(matrix, f.polygon), f.text, next_id + len(fields)
                )
            )
        instances.append(SceneInstance(doc.kind, doc.template, quad, matrix, fields))
        warped = warp_document(doc, matrix, canvas.shape[:2])
        if warped is None:
            in_frame.append(0)
            continue
        if rng.random() < opts.p_doc_shadow:
            x0, y0 = warped.box[:2]
            lift = float(rng.uniform(0.5, 4.0))
            sprite = Sprite(x0, y0, warped.alpha, np.zeros((*warped.alpha.shape, 3), np.float32))
            cast_shadow(
                canvas, sprite, (lift, lift * 0.8), 1.0 + lift, float(rng.uniform(0.15, 0.4))
            )
        composite(canvas, warped)
        mask = warped.mask
        x0, y0, x1, y1 = warped.box
        instance_map[y0:y1, x0:x1][mask] = k + 1
        layer_fields(field_map, warped, [f.polygon for f in fields], next_id)
        next_id += len(fields)
        in_frame.append(int(mask.sum()))
    return instances, in_frame


def _statistics(
    instances: list[SceneInstance],
    in_frame: list[int],
    instance_map: np.ndarray,
    field_map: np.ndarray,
    hw: tuple[int, int],
) -> None:
    doc_counts = np.bincount(instance_map.ravel(), minlength=len(instances) + 1)
    n_fields = sum(len(i.fields) for i in instances)
    field_counts = np.bincount(field_map.ravel(), minlength=n_fields + 1)
    for k, inst in enumerate(instances):
        inst.visible_pixels = int(doc_counts[k + 1])
        inst.visible_fraction = min(1.0, inst.visible_pixels / max(polygon_area(inst.quad), 1e-9))
        inst.occluded = inst.visible_pixels < in_frame[k]
        q = inst.quad
        inst.truncated = bool(
            (q < -0.5).any() or (q[:, 0] > hw[1] - 0.5).any() or (q[:, 1] > hw[0] - 0.5).any()
        )
        for fld in inst.fields:
            fld.visible_pixels = int(field_counts[fld.id])
