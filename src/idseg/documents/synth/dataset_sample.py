"""One sample of a synthetic dataset: draw it from ``(seed, index)``, write its files, describe it.

Everything about sample ``i`` comes from ``np.random.SeedSequence(seed, spawn_key=(i,))`` (the
``i``-th child of ``SeedSequence(seed)``), so a sample is the same whatever the number of samples
or worker processes. Whether it is a negative is decided without randomness per sample: sample
``i`` is a negative when ``floor((i + 1) * share + phase) > floor(i * share + phase)``, with a
phase from the seed. Any ``n`` consecutive samples then hold ``floor`` or ``ceil`` of
``n * share`` negatives, evenly spread.

All documents of one sample come from one template (:func:`scene_template`): different
identities, sizes and renders of the same design. The sample's split group
(:func:`image_group`) is that template, so ``idseg data split`` keeps every image of a template
in one split; each negative is its own group.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idseg.documents.classes import CLASS_NAMES, KINDS, class_index
from idseg.documents.synth.layouts import drawn_templates, get_template
from idseg.documents.synth.raster import clip_polygon
from idseg.documents.synth.scene import Scene, compose_scene, plan_scene
from idseg.documents.synth.scene_options import SceneOptions
from idseg.formats import mask_to_rle
from idseg.io.atomic import atomic_write_bytes, atomic_write_text
from idseg.io.writers import save_label_png

logger = logging.getLogger(__name__)

#: Image formats the generator writes.
IMAGE_FORMATS: tuple[str, ...] = ("jpg", "png")
#: Largest flat-document resolution the generator asks the renderer for (pixels per mm).
MAX_PX_PER_MM = 12.0
#: Flat documents are rendered this much larger than they will appear (then shrunk: antialiasing).
OVERSAMPLE = 1.3


def negative_phase(seed: int) -> float:
    """The seed's phase in ``[0, 1)`` for :func:`is_negative`.

    Example:
        >>> 0.0 <= negative_phase(0) < 1.0
        True
    """
    return float(np.random.SeedSequence(seed).generate_state(1)[0]) / 2.0**32


def is_negative(index: int, share: float, phase: float) -> bool:
    """Whether sample ``index`` is a negative (see the module docstring).

    Example:
        >>> sum(is_negative(i, 0.25, 0.5) for i in range(100))
        25
    """
    return math.floor((index + 1) * share + phase) > math.floor(index * share + phase)


def _px_per_mm(kind: str, scale: float, hw: tuple[int, int]) -> float:
    """Resolution at which a document shown at ``scale`` of the frame is rendered."""
    from idseg.documents.synth.render import PX_PER_MM_RANGE

    spec = KINDS[kind]
    wanted = scale * max(hw) * OVERSAMPLE / max(spec.width_mm, spec.height_mm)
    return float(min(max(wanted, PX_PER_MM_RANGE[0]), MAX_PX_PER_MM))


def draw_scene(seed: int, index: int, opts: SceneOptions, phase: float) -> Scene:
    """Make sample ``index`` of the dataset of ``seed`` (render its documents, compose its scene).

    Example:
        >>> opts = SceneOptions(size=(96, 128), negatives=1.0)
        >>> int(draw_scene(0, 0, opts, 0.0).class_mask.max())
        0
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    if is_negative(index, opts.negatives, phase):
        return compose_scene(rng, [], opts.size, opts)
    from idseg.documents.synth.render import render_document

    count = int(rng.integers(opts.docs_per_scene[0], opts.docs_per_scene[1] + 1))
    plan = plan_scene(rng, count, opts)
    # One template per scene: several documents are different identities and renders of it, so
    # the template is the image's split group and no template is seen in two splits.
    allowed = opts.allowed_templates()  # by kind, in the order of opts.kinds
    template = scene_template(rng, tuple(allowed), allowed)
    kind = get_template(template).kind
    # Drawn only when asked, so datasets made without it keep their seeds' pixels.
    restyle = opts.p_restyle > 0.0 and bool(rng.random() < opts.p_restyle)
    real = opts.p_real > 0.0 and bool(rng.random() < opts.p_real)
    docs = [
        render_document(
            rng,
            template=template,
            px_per_mm=_px_per_mm(kind, scale, opts.size),
            restyle=restyle,
            real=real,
        )
        for scale in plan.scales
    ]
    return compose_scene(rng, docs, opts.size, opts, plan)


def scene_template(
    rng: np.random.Generator,
    kinds: tuple[str, ...],
    allowed: dict[str, list[str]] | None = None,
) -> str:
    """The template every document of a scene is drawn from: a kind, then one of its templates.

    Each allowed kind is equally likely, then each of its templates.

    Args:
        rng: The scene's generator.
        kinds: Kinds to draw from.
        allowed: Templates by kind (see :meth:`SceneOptions.allowed_templates`); kinds missing
            from it are skipped. ``None``: every template of every kind but the real-card ones
            (:data:`~idseg.documents.synth.layouts.REAL_CARD_TEMPLATES`), as
            :func:`~idseg.documents.synth.render.render_document` draws them.

    Example:
        >>> get_template(scene_template(np.random.default_rng(0), ("td2",))).kind
        'td2'
    """
    if allowed is not None:
        kinds = tuple(k for k in kinds if k in allowed)
    kind = kinds[int(rng.integers(len(kinds)))]
    names = allowed[kind] if allowed is not None else drawn_templates(kind, real=False)
    return names[int(rng.integers(len(names)))]


def image_group(scene: Scene, stem: str) -> str:
    """The split group of a sample: the template its documents share, ``negative-<stem>`` if none.

    Raises:
        ValueError: The scene's documents come from different templates (the dataset never makes
            such scenes; a group must name one template so no template straddles splits).

    Example:
        >>> image_group(draw_scene(0, 0, SceneOptions(size=(64, 64), negatives=1.0), 0.0), "000007")
        'negative-000007'
    """
    templates = sorted({inst.template for inst in scene.instances})
    if not templates:
        return f"negative-{stem}"
    if len(templates) > 1:
        raise ValueError(f"a scene's documents must share one template, got {templates}")
    return templates[0]


#: Files use continuous image coordinates, as MIDV-500 and COCO do: (0, 0) is the top-left corner of
#: the top-left pixel and pixel (c, r) covers [c, c + 1) x [r, r + 1). The scene engine works with
#: pixel centres at whole numbers, so points move by half a pixel on the way out.
FILE_OFFSET = 0.5


def _points(poly: np.ndarray) -> list[list[float]]:
    pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2) + FILE_OFFSET
    return [[round(float(x), 3), round(float(y), 3)] for x, y in pts]


def quads_record(scene: Scene) -> dict[str, Any]:
    """The quads JSON: MIDV-500 ``{"quad": ...}`` for one document, else ``{"quads", "documents"}``.

    Example:
        >>> quads_record(draw_scene(0, 0, SceneOptions(size=(64, 64), negatives=1.0), 0.0))
        {'quads': []}
    """
    if not scene.instances:
        return {"quads": []}
    if len(scene.instances) == 1:
        return {"quad": _points(scene.instances[0].quad)}
    return {
        "quads": [_points(inst.quad) for inst in scene.instances],
        "documents": [{"kind": i.kind, "template": i.template} for i in scene.instances],
    }


def polygons_record(scene: Scene, file_name: str) -> dict[str, Any]:
    """Per document: kind, template, quad, visibility, and its fields' polygons clipped to the frame.

    Example:
        >>> polygons_record(draw_scene(0, 0, SceneOptions(size=(64, 64), negatives=1.0), 0.0), "a.jpg")
        {'image': 'a.jpg', 'size': [64, 64], 'documents': []}
    """
    h, w = scene.class_mask.shape
    docs = []
    for inst in scene.instances:
        fields = []
        for f in inst.fields:
            clipped = clip_polygon(f.polygon, w, h)
            fields.append(
                {
                    "class": f.cls,
                    "name": f.name,
                    "polygon": _points(clipped),
                    "text": f.text,
                    "visible_pixels": f.visible_pixels,
                }
            )
        docs.append(
            {
                "kind": inst.kind,
                "template": inst.template,
                "quad": _points(inst.quad),
                "visible_fraction": round(inst.visible_fraction, 4),
                "occluded": inst.occluded,
                "truncated": inst.truncated,
                "fields": fields,
            }
        )
    return {"image": file_name, "size": [h, w], "documents": docs}


def _annotation(mask: np.ndarray, category: int, extra: dict[str, Any]) -> dict[str, Any]:
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return {
        "category_id": category,
        "segmentation": mask_to_rle(mask),
        "area": len(ys),
        "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
        "iscrowd": 0,
        **extra,
    }


def coco_annotations(scene: Scene) -> list[dict[str, Any]]:
    """COCO annotations (no ids yet) of the visible documents and fields, in layer order.

    A document instance covers all its visible pixels (its fields included); a field instance its
    own visible pixels. Instances with no visible pixel are left out.

    Example:
        >>> coco_annotations(draw_scene(0, 0, SceneOptions(size=(64, 64), negatives=1.0), 0.0))
        []
    """
    out = []
    for k, inst in enumerate(scene.instances):
        if inst.visible_pixels:
            extra = {"document": k, "kind": inst.kind, "template": inst.template}
            out.append(_annotation(scene.document_mask(k), 1, extra))
        for f in inst.fields:
            if f.visible_pixels:
                extra = {"document": k, "field_name": f.name}
                out.append(_annotation(scene.field_mask(f), class_index(f.cls), extra))
    return out


def encode_image(image: np.ndarray, image_format: str, quality: int) -> bytes:
    """Encode RGB as JPEG (fixed quality, baseline, no optimisation) or PNG, through OpenCV.

    Example:
        >>> encode_image(np.zeros((8, 8, 3), np.uint8), "png", 95)[1:4]
        b'PNG'
    """
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    if image_format == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 0]
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 0]
        ok, buf = cv2.imencode(".jpg", bgr, params)
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise RuntimeError(f"OpenCV could not encode a {image_format} image")
    return bytes(buf.tobytes())


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON with sorted keys and a final newline (byte-identical for equal objects).

    Example:
        >>> print(dumps({"b": 1, "a": [1, 2]}, indent=None), end="")
        {"a": [1, 2], "b": 1}
    """
    return json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False) + "\n"


def write_sample(
    folder: Path,
    seed: int,
    index: int,
    opts: SceneOptions,
    phase: float,
    image_format: str,
    quality: int,
) -> dict[str, Any]:
    """Make sample ``index`` and write its image, mask, quads and polygons into ``folder``.

    Returns:
        ``file_name``, ``group``, ``negative``, ``documents``, ``annotations`` (COCO, no ids),
        ``class_pixels`` (pixels per class) and ``size``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     rec = write_sample(Path(tmp), 0, 0, SceneOptions(size=(64, 64), negatives=1.0), 0.0, "png", 95)
        ...     sorted(p.name for p in Path(tmp).rglob("*.*"))
        ['000000.json', '000000.json', '000000.png', '000000.png']
    """
    scene = draw_scene(seed, index, opts, phase)
    stem = f"{index:06d}"
    file_name = f"{stem}.{image_format}"
    atomic_write_bytes(
        folder / "images" / file_name, encode_image(scene.image, image_format, quality)
    )
    save_label_png(scene.class_mask, folder / "masks" / f"{stem}.png")
    atomic_write_text(folder / "quads" / f"{stem}.json", dumps(quads_record(scene)))
    atomic_write_text(
        folder / "polygons" / f"{stem}.json", dumps(polygons_record(scene, file_name))
    )
    return {
        "file_name": file_name,
        "group": image_group(scene, stem),
        "negative": not scene.instances,
        "documents": len(scene.instances),
        "annotations": coco_annotations(scene),
        "class_pixels": np.bincount(scene.class_mask.ravel(), minlength=len(CLASS_NAMES)).tolist(),
        "size": list(scene.class_mask.shape),
    }
