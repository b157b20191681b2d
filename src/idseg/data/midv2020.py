"""MIDV-2020 importer: VGG Image Annotator (VIA) JSON to the idseg dataset layout.

MIDV-2020 (Bulatov et al., Computer Optics 46(2), 2022) holds 1000 mock identity documents of 10
types (``alb_id``, ``aze_passport``, ``esp_id``, ``est_id``, ``fin_id``, ``grc_passport``,
``lva_passport``, ``rus_internalpassport``, ``srb_passport``, ``svk_id``), 100 per type, as
templates, photos, upright and rotated scans, and video clips. Published layout::

    <subset>/images/<type>/<NN>.jpg        <subset>/annotations/<type>.json
    clips/images/<type>/<NN>/<frame>.jpg    clips/annotations/<type>/<NN>.json

with ``<subset>`` one of ``templates``, ``photo``, ``scan_upright``, ``scan_rotated``. Every
annotation file is VIA JSON: either a VIA project (``{"_via_img_metadata": {key: entry}, ...}``)
or a plain export (``{key: entry}``, or a list of entries); an entry is
``{"filename", "regions": [{"shape_attributes", "region_attributes"}, ...]}`` (VIA 1 also wrote
``regions`` as a dict). Shapes: ``polygon`` / ``polyline`` (``all_points_x``, ``all_points_y``),
``rect`` (``x``, ``y``, ``width``, ``height``), ``circle`` and ``ellipse`` (as 64-gons). The
region's name is ``region_attributes["field_name"]`` (or ``name``, ``label``, ``type``).

The region named ``doc_quad`` is the document: its polygon (4 points) is the quad, kept in the
annotation's order, which is the document's own order (top-left of the document first, even when
the document is upside down in the image). Templates have no ``doc_quad``: the whole image is the
document. ``face`` (and ``photo``) becomes ``portrait``, other fields are classed by name
(:func:`~idseg.data.convert_geometry.field_class`: ``mrz_*`` to ``mrz``, ``signature``, else
``text``). An image with an unreadable region is skipped whole (never a half-labelled mask), and
reported. Groups are document types (or single documents, ``<type>/<NN>``, with
``group_by="document"``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idseg.data.convert import ConvertReport, DatasetWriter, output_folder
from idseg.data.convert_geometry import Region, as_polygon, field_class
from idseg.errors import IdsegError, InputError
from idseg.io.images import image_size

logger = logging.getLogger(__name__)

SUBSETS: tuple[str, ...] = ("templates", "photo", "scan_upright", "scan_rotated", "clips")
_NAME_KEYS = ("field_name", "name", "label", "type")
_DOC = "doc_quad"


def via_entries(data: Any) -> list[dict[str, Any]]:
    """The per-image entries of VIA JSON (project file, plain export, or a list).

    Raises:
        InputError: Not one of the VIA forms.

    Example:
        >>> via_entries({"_via_img_metadata": {"a.jpg1": {"filename": "a.jpg", "regions": []}}})
        [{'filename': 'a.jpg', 'regions': []}]
    """
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    items = list(data.values()) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(
        isinstance(e, dict) and isinstance(e.get("filename"), str) for e in items
    ):
        raise InputError('expected VIA JSON: image entries with "filename" and "regions"')
    return items


def shape_polygon(shape: Any) -> np.ndarray:
    """A VIA ``shape_attributes`` dict as a ``K x 2`` polygon in image coordinates.

    Raises:
        InputError: Unknown shape or missing / non-numeric values.

    Example:
        >>> shape_polygon({"name": "rect", "x": 1, "y": 2, "width": 3, "height": 4}).tolist()
        [[1.0, 2.0], [4.0, 2.0], [4.0, 6.0], [1.0, 6.0]]
    """
    kind = shape.get("name") if isinstance(shape, dict) else None
    try:
        if kind in ("polygon", "polyline"):
            xs, ys = shape["all_points_x"], shape["all_points_y"]
            if len(xs) != len(ys):
                raise InputError("all_points_x and all_points_y differ in length")
            return as_polygon(list(zip(xs, ys, strict=True)), "a polygon")
        if kind == "rect":
            x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
            return as_polygon([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], "a rect")
        if kind in ("circle", "ellipse"):
            cx, cy = float(shape["cx"]), float(shape["cy"])
            rx = float(shape["r"] if kind == "circle" else shape["rx"])
            ry = float(shape["r"] if kind == "circle" else shape["ry"])
            theta = float(shape.get("theta", 0.0))
            t = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
            px, py = rx * np.cos(t), ry * np.sin(t)
            c, s = np.cos(theta), np.sin(theta)
            return as_polygon(np.stack([cx + c * px - s * py, cy + s * px + c * py], 1), kind)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"a {kind} shape lacks a number ({type(exc).__name__}: {exc})") from None
    raise InputError(f"unsupported VIA shape {kind!r} (expected polygon, rect, circle, ellipse)")


def region_name(region: Any) -> str:
    """The field name of a VIA region (``field_name``, else ``name``, ``label``, ``type``).

    Raises:
        InputError: The region has no name.

    Example:
        >>> region_name({"region_attributes": {"field_name": "face"}})
        'face'
    """
    attrs = region.get("region_attributes") if isinstance(region, dict) else None
    for key in _NAME_KEYS:
        value = attrs.get(key) if isinstance(attrs, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise InputError("a region has no field_name")


@dataclass(frozen=True)
class _Source:
    """One annotation file and where its images are."""

    annotations: Path
    images: Path
    subset: str
    doc_type: str
    clip: str | None


def find_annotation_files(root: Path) -> list[_Source]:
    """Every VIA file under an ``annotations/`` folder of ``root``, with its image folder.

    ``<subset>/annotations/<type>.json`` pairs with ``<subset>/images/<type>/``, and
    ``clips/annotations/<type>/<NN>.json`` with ``clips/images/<type>/<NN>/``; deeper files are
    ignored. The files are not read here.

    Args:
        root: The unpacked MIDV-2020 folder (or one subset of it).

    Returns:
        One source per annotation file (``annotations``, ``images``, ``subset``, ``doc_type``
        and ``clip``, None outside ``clips``), sorted by path.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for ann in ("photo/annotations/alb_id.json", "clips/annotations/esp_id/07.json"):
        ...         (Path(tmp) / ann).parent.mkdir(parents=True, exist_ok=True)
        ...         _ = (Path(tmp) / ann).write_text("{}")
        ...     for s in find_annotation_files(Path(tmp)):
        ...         print(s.subset, s.doc_type, s.clip, s.images.relative_to(tmp).as_posix())
        clips esp_id 07 clips/images/esp_id/07
        photo alb_id None photo/images/alb_id
    """
    root = Path(root)
    found = []
    candidates = [root, *root.rglob("annotations")]
    for ann_dir in sorted(p for p in candidates if p.name == "annotations" and p.is_dir()):
        for path in sorted(ann_dir.rglob("*.json")):
            rel = path.relative_to(ann_dir)
            if len(rel.parts) > 2:
                continue
            doc_type = rel.parts[0] if len(rel.parts) == 2 else path.stem
            clip = path.stem if len(rel.parts) == 2 else None
            images = ann_dir.parent / "images" / doc_type / (clip or "")
            found.append(_Source(path, images, ann_dir.parent.name, doc_type, clip))
    return found


def _image_path(src: _Source, filename: str) -> Path:
    image = (src.images / filename).resolve()
    if src.images.resolve() not in image.parents:
        raise InputError(f"file name {filename!r} points outside the image folder")
    if not image.is_file():
        raise InputError(f"no image {filename} in the image folder")
    return image


def _regions(
    entry: dict[str, Any], overrides: Mapping[str, str | None] | None
) -> tuple[np.ndarray | None, list[Region]]:
    raw = entry.get("regions", [])
    regions = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(regions, list):
        raise InputError('"regions" must be a list')
    quad, fields = None, []
    for region in regions:
        name = region_name(region)
        polygon = shape_polygon(region.get("shape_attributes"))
        if name.lower() == _DOC:
            if polygon.shape != (4, 2):
                raise InputError(f"doc_quad must have 4 points, got {len(polygon)}")
            quad = polygon if quad is None else quad
            continue
        cls = field_class(name, overrides)
        if cls is not None:
            fields.append(Region(name, cls, polygon))
    return quad, fields


def _entries(src: _Source, writer: DatasetWriter, root: Path, every: int) -> Iterator[dict]:
    where = src.annotations.relative_to(root).as_posix()
    try:
        data = json.loads(src.annotations.read_text(encoding="utf-8"))
        entries = via_entries(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, InputError) as exc:
        writer.skip(where, f"unreadable annotation file ({type(exc).__name__}: {exc})")
        return
    yield from sorted(entries, key=lambda e: e["filename"])[::every]


def _import_file(
    src: _Source,
    writer: DatasetWriter,
    root: Path,
    every: int,
    group_by: str,
    overrides: Mapping[str, str | None] | None,
) -> None:
    rel = src.annotations.relative_to(root).as_posix()
    for entry in _entries(src, writer, root, every):
        filename = entry["filename"]
        try:
            image = _image_path(src, filename)
            quad, fields = _regions(entry, overrides)
            if quad is None and src.subset != "templates":
                raise InputError("no doc_quad region")
            if quad is None:
                h, w = image_size(image)
                quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
            doc_id = src.clip or Path(filename).stem
            group = src.doc_type if group_by == "type" else f"{src.doc_type}/{doc_id}"
            parts = [src.subset, src.doc_type, src.clip or "", Path(filename).stem]
            stem = "_".join(p for p in parts if p)
            writer.add(image, stem, group, quad.tolist(), fields)
        except (IdsegError, OSError) as exc:
            writer.skip(f"{rel}: {filename}", str(exc))


def import_midv2020(
    root: Path,
    out: Path,
    *,
    subsets: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    group_by: str = "type",
    field_classes: Mapping[str, str | None] | None = None,
    image_format: str = "keep",
    every: int = 1,
    overwrite: bool = False,
) -> ConvertReport:
    """Convert MIDV-2020 (or any tree in its layout) into an idseg dataset.

    Args:
        root: The dataset folder (holding ``photo/``, ``clips/`` ...) or one subset folder.
        out: The dataset folder to write (replaced as a whole at the end).
        subsets: Only these subsets (:data:`SUBSETS`); None: all found.
        types: Only these document types (``alb_id`` ...); None: all found.
        group_by: ``type`` (default) or ``document`` (``<type>/<NN>``, one mock document).
        field_classes: Field name -> class (or None to leave it out), before the name rules.
        image_format: ``keep`` (copy the file), ``png`` or ``jpg``.
        every: Keep every n-th image of each annotation file (clip frames are near duplicates).
        overwrite: Replace a non-empty ``out`` whatever it holds; without it only an earlier
            idseg dataset is replaced (:func:`idseg.data.outdir.check_output_folder`).

    Returns:
        The report, listing every skipped annotation file or image with the reason.

    Raises:
        InputError: No annotation file found, bad options, or a bad ``out`` (a file,
            overlapping ``root``, or a non-empty folder that is not an idseg dataset).

    Example:
        >>> import_midv2020(Path("midv2020"), Path("data/midv2020"), subsets=["photo"]).images  # doctest: +SKIP
        1000
    """
    root = Path(root)
    if group_by not in ("type", "document"):
        raise InputError(f"group_by must be 'type' or 'document', got {group_by!r}")
    if every < 1:
        raise InputError(f"every must be 1 or more, got {every}")
    unknown = sorted(set(subsets or ()) - set(SUBSETS))
    if unknown:
        raise InputError(f"unknown MIDV-2020 subsets {unknown}; expected some of {SUBSETS}")
    sources = [
        s
        for s in (find_annotation_files(root) if root.is_dir() else [])
        if (subsets is None or s.subset in subsets) and (types is None or s.doc_type in types)
    ]
    if not sources:
        raise InputError(
            f"no VIA annotation file found under {root}; expected MIDV-2020's layout, e.g. "
            "photo/annotations/alb_id.json with photo/images/alb_id/00.jpg"
        )
    with output_folder(Path(out), [root], overwrite) as tmp:
        writer = DatasetWriter(tmp, "midv2020", image_format)
        for src in sources:
            _import_file(src, writer, root, every, group_by, field_classes)
        report = writer.finish()
    report.out = Path(out)
    if report.skipped:
        logger.warning("%d annotations were skipped (see the report)", len(report.skipped))
    return report


__all__ = [
    "SUBSETS",
    "find_annotation_files",
    "import_midv2020",
    "region_name",
    "shape_polygon",
    "via_entries",
]
