"""Field classes from field names, and polygon rasterising, for the dataset importers.

Coordinates of the source annotations are continuous image coordinates (pixel ``(c, r)`` covers
``[c, c + 1) x [r, r + 1)``), as in MIDV, VIA and COCO polygons. A pixel belongs to a polygon when
its centre ``(c + 0.5, r + 0.5)`` lies inside the polygon or on its boundary
(:func:`rasterize_polygon`); polygons reaching outside the image are clipped to it. (idseg's own
geometry uses pixel-centre coordinates: subtract 0.5 to go there.)

Field classes come from field names (:func:`field_class`, table :data:`FIELD_RULES`). Where fields
overlap, the class later in :data:`PAINT_ORDER` wins in the class mask (:func:`label_image`);
fields are clipped to the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from idseg.documents.classes import CLASS_NAMES, class_index
from idseg.errors import InputError

#: Field-name rules, first match wins: (class, name tokens that select it). A name is split into
#: lower-case tokens at every non-letter (``mrz_line0`` -> ``mrz``, ``line``); ``doc_quad`` is the
#: document itself; every other field is ``text``.
FIELD_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("portrait", frozenset({"photo", "face", "portrait", "foto"})),
    ("signature", frozenset({"signature", "sign", "autograph"})),
    ("mrz", frozenset({"mrz"})),
    ("barcode", frozenset({"barcode", "pdf", "qr", "qrcode", "datamatrix"})),
)

#: Field names that are the document boundary, not a field.
DOCUMENT_NAMES: frozenset[str] = frozenset({"doc_quad", "document", "doc"})

#: Class painting order in the class mask (a later class wins where fields overlap).
PAINT_ORDER: tuple[str, ...] = ("text", "mrz", "barcode", "signature", "portrait")

_EPS = 1e-6


def field_class(name: str, overrides: Mapping[str, str | None] | None = None) -> str | None:
    """The class of a field from its name; ``None`` for the document boundary or a skipped field.

    Args:
        name: The field name of the annotation (``photo``, ``face``, ``mrz_line0``, ``surname``).
        overrides: Exact names mapped to a class name, or to ``None`` to leave the field out;
            checked before :data:`FIELD_RULES`.

    Raises:
        InputError: An override names an unknown class.

    Example:
        >>> [field_class(n) for n in ("photo", "face", "mrz_line1", "signature", "surname")]
        ['portrait', 'portrait', 'mrz', 'signature', 'text']
    """
    if overrides is not None and name in overrides:
        cls = overrides[name]
        if cls is not None and class_index(cls) < 2:
            raise InputError(f"a field class must be a field class, got {cls!r} for {name!r}")
        return cls
    lowered = name.strip().lower()
    if lowered in DOCUMENT_NAMES:
        return None
    tokens = set(re.split(r"[^a-z]+", lowered)) - {""}
    for cls, words in FIELD_RULES:
        if tokens & words:
            return cls
    return "text"


def as_polygon(points: object, what: str = "polygon") -> np.ndarray:
    """Check and convert ``[[x, y], ...]`` (3 or more finite points) to a ``K x 2`` float array.

    Raises:
        InputError: Not a list of at least 3 pairs of finite numbers.

    Example:
        >>> as_polygon([[0, 0], [4, 0], [4, 3]]).shape
        (3, 2)
    """
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a list of [x, y] number pairs") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 3 or not np.isfinite(arr).all():
        raise InputError(f"{what} must be 3 or more finite [x, y] pairs, got shape {arr.shape}")
    return arr


def _row_intervals(pts: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed x-intervals of the polygon on each scan line ``ys``: (row index, x start, x end)."""
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    lo, hi, dy = np.minimum(y0, y1), np.maximum(y0, y1), y1 - y0
    y = ys[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = x0 + (y - y0) * (x1 - x0) / dy
    rows = np.broadcast_to(np.arange(len(ys))[:, None], x.shape)
    # Interior: even-odd pairs of crossings, each edge counted on [lo, hi) so a vertex counts once.
    xs = np.sort(np.where((lo <= y) & (y < hi), x, np.inf), axis=1)
    if xs.shape[1] % 2:
        xs = np.concatenate([xs, np.full((len(ys), 1), np.inf)], axis=1)
    starts, ends = xs[:, 0::2], xs[:, 1::2]
    inner = np.isfinite(ends)
    # Boundary: points on sloped edges, and whole horizontal edges lying on the scan line.
    sloped = (dy != 0) & (lo - _EPS <= y) & (y <= hi + _EPS)
    flat = (dy == 0) & (np.abs(y - y0) <= _EPS)
    flat_lo = np.broadcast_to(np.minimum(x0, x1), x.shape)[flat]
    flat_hi = np.broadcast_to(np.maximum(x0, x1), x.shape)[flat]
    span_rows = np.broadcast_to(rows[:, :1], starts.shape)[inner]
    return (
        np.concatenate([span_rows, rows[sloped], rows[flat]]),
        np.concatenate([starts[inner], x[sloped], flat_lo]),
        np.concatenate([ends[inner], x[sloped], flat_hi]),
    )


def rasterize_polygon(points: object, hw: tuple[int, int]) -> np.ndarray:
    """Boolean ``H x W`` mask of the pixels whose centre lies inside or on a polygon.

    Coordinates are continuous (pixel ``(c, r)`` has its centre at ``(c + 0.5, r + 0.5)``); the
    polygon is closed, may be concave or reach outside the image (it is clipped), and is filled
    by the even-odd rule. Exact for integer and half-integer vertices, up to 1e-6 px otherwise.

    Raises:
        InputError: Fewer than 3 points, or non-finite values.

    Example:
        >>> rasterize_polygon([[1, 1], [4, 1], [4, 3], [1, 3]], (4, 6)).astype(int).tolist()
        [[0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]]
    """
    pts = as_polygon(points)
    h, w = int(hw[0]), int(hw[1])
    out = np.zeros((h, w), dtype=bool)
    r0 = max(int(np.ceil(pts[:, 1].min() - 0.5 - _EPS)), 0)
    r1 = min(int(np.floor(pts[:, 1].max() - 0.5 + _EPS)), h - 1)
    if r0 > r1 or w <= 0:
        return out
    rows, xa, xb = _row_intervals(pts, np.arange(r0, r1 + 1, dtype=np.float64) + 0.5)
    c0 = np.maximum(np.ceil(xa - 0.5 - _EPS), 0)
    c1 = np.minimum(np.floor(xb - 0.5 + _EPS), w - 1)
    keep = c0 <= c1
    rows, c0, c1 = rows[keep], c0[keep].astype(np.int64), c1[keep].astype(np.int64)
    diff = np.zeros((r1 - r0 + 1, w + 1), dtype=np.int32)
    np.add.at(diff, (rows, c0), 1)
    np.add.at(diff, (rows, c1 + 1), -1)
    out[r0 : r1 + 1] = np.cumsum(diff, axis=1)[:, :w] > 0
    return out


@dataclass(frozen=True, eq=False)
class Region:
    """One annotated field of an image.

    Attributes:
        name: The field name in the source annotation.
        cls: Its class, one of :data:`idseg.documents.classes.FIELD_CLASSES`.
        polygon: ``K x 2`` float array, continuous image coordinates.

    Example:
        >>> Region("photo", "portrait", as_polygon([[0, 0], [9, 0], [9, 9], [0, 9]])).cls
        'portrait'
    """

    name: str
    cls: str
    polygon: np.ndarray


def label_image(
    hw: tuple[int, int], document: object, regions: Sequence[Region]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Rasterise a document polygon and its fields.

    Returns:
        The ``uint8`` class mask, the document's own mask, and each region's mask clipped to
        the document (in the order of ``regions``).

    Example:
        >>> labels, doc, parts = label_image((4, 4), [[0, 0], [4, 0], [4, 4], [0, 4]], [])
        >>> int(labels.sum()), int(doc.sum()), parts
        (16, 16, [])
    """
    doc = rasterize_polygon(document, hw)
    labels = doc.astype(np.uint8)
    parts = [rasterize_polygon(r.polygon, hw) & doc for r in regions]
    for cls in PAINT_ORDER:
        value = CLASS_NAMES.index(cls)
        for region, part in zip(regions, parts, strict=True):
            if region.cls == cls:
                labels[part] = value
    return labels, doc, parts


__all__ = [
    "DOCUMENT_NAMES",
    "FIELD_RULES",
    "PAINT_ORDER",
    "Region",
    "as_polygon",
    "field_class",
    "label_image",
    "rasterize_polygon",
]
