"""YOLO-seg export: one label line per mask, disjoint parts joined by zero-width bridges.

Polygon coordinates follow :mod:`idseg.geometry`: ``(x, y)`` at pixel centres, normalised by the
image width and height. :mod:`idseg.formats` re-exports :func:`masks_to_yolo`,
:func:`segments_to_yolo` and :func:`bridge_outlines`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from idseg.errors import InputError
from idseg.geometry import mask_to_polygons, polygon_area
from idseg.io.writers import _masks_3d
from idseg.sam.results import Segments

logger = logging.getLogger(__name__)


def masks_to_yolo(
    masks: np.ndarray | Sequence[np.ndarray],
    class_ids: int | Sequence[int] = 0,
    tolerance: float = 1.0,
) -> str:
    """YOLO-seg label text: one ``class x1 y1 x2 y2 ...`` line per mask, normalised to ``[0, 1]``.

    ``x`` is divided by the image width and ``y`` by its height (pixel-centre coordinates, as
    Ultralytics does), with 6 decimals. A mask made of several disjoint parts is still **one**
    instance: its outlines are joined into one polygon by zero-width bridges between nearest
    vertices (out along the bridge and back, as Ultralytics' ``merge_multi_segment``), so
    filling the polygon covers every part plus the one-pixel bridge lines. **Holes are
    dropped**, because YOLO-seg cannot express them (parts lying in a hole are then covered
    and dropped too). Outlines with fewer than 3 points are skipped; a mask without any
    outline gives no line.

    Args:
        masks: ``N x H x W`` masks.
        class_ids: One class for every mask, or one per mask.
        tolerance: Polygon simplification in pixels (see :func:`idseg.geometry.mask_to_polygons`).

    Returns:
        The label text, each line ending with a newline; empty when there is no polygon.

    Example:
        >>> m = np.zeros((1, 50, 100), bool); m[0, 10:20, 20:40] = True
        >>> print(masks_to_yolo(m, 3), end="")
        3 0.200000 0.200000 0.200000 0.380000 0.390000 0.380000 0.390000 0.200000

    """
    arr = _masks_3d(masks)
    n, h, w = arr.shape
    ids = [class_ids] * n if isinstance(class_ids, int | np.integer) else list(class_ids)
    if len(ids) != n or any(not isinstance(c, int | np.integer) or c < 0 for c in ids):
        raise InputError(f"class_ids must be one int >= 0 or {n} of them, got {class_ids!r}")
    scale = np.array([w, h], dtype=np.float64)
    lines = []
    for mask, cls in zip(arr, ids, strict=True):
        parts = [p.exterior for p in mask_to_polygons(_without_holes(mask), tolerance)]
        if parts:
            pts = np.clip(bridge_outlines(parts) / scale, 0.0, 1.0)
            lines.append(f"{int(cls)} " + " ".join(f"{v:.6f}" for v in pts.ravel()) + "\n")
    return "".join(lines)


def _without_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every hole filled (so islands inside holes merge into their surroundings)."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    filled = np.zeros(mask.shape, dtype=np.uint8)
    return cv2.drawContours(filled, contours, -1, 1, cv2.FILLED)


def _delaunay_pairs(pts: np.ndarray) -> np.ndarray:
    """Vertex index pairs (``E x 2``) of the Delaunay edges: they contain every minimal bridge."""
    p32 = np.ascontiguousarray(pts, dtype=np.float32)
    lo = np.floor(p32.min(axis=0)) - 1
    size = np.ceil(p32.max(axis=0)) - lo + 2
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(size[0]), int(size[1])))
    subdiv.insert(p32.tolist())
    ends = np.ascontiguousarray(subdiv.getEdgeList(), dtype=np.float32).reshape(-1, 2)
    keys, wanted = p32.view(np.uint64).ravel(), ends.view(np.uint64).ravel()
    order = np.argsort(keys, kind="stable")  # equal points: the first index wins
    idx = order[np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)]
    real = (keys[idx] == wanted).reshape(-1, 2).all(axis=1)  # not the outer virtual vertices
    return np.sort(idx.reshape(-1, 2)[real], axis=1)


def _triangulation() -> Callable[[np.ndarray], np.ndarray]:
    """:func:`_delaunay_pairs`, looked up on :mod:`idseg.formats`, its old home and patch point.

    ``idseg.formats`` re-exports it, and tests replace ``formats._delaunay_pairs`` to exercise the
    brute-force fallback of :func:`_bridge_links`; reading it there keeps that replacement
    effective.
    """
    from idseg import formats

    return formats._delaunay_pairs


def _bridge_links(pts: np.ndarray, owner: np.ndarray) -> list[tuple[int, int]]:
    """Vertex pairs joining all parts by the shortest bridges (Kruskal on Delaunay edges)."""
    n_parts = int(owner.max()) + 1
    pairs = _triangulation()(pts)
    pairs = pairs[owner[pairs[:, 0]] != owner[pairs[:, 1]]]
    dist = ((pts[pairs[:, 0]] - pts[pairs[:, 1]]) ** 2).sum(axis=1)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0], dist))]
    link_of = np.sort(owner[pairs], axis=1) @ np.array([n_parts, 1])
    pairs = pairs[np.sort(np.unique(link_of, return_index=True)[1])]  # shortest per part pair
    group = list(range(n_parts))

    def find(a: int) -> int:
        while group[a] != a:
            group[a] = group[group[a]]
            a = group[a]
        return a

    links: list[tuple[int, int]] = []
    for u, v in pairs.tolist():
        a, b = find(int(owner[u])), find(int(owner[v]))
        if a != b:
            group[a] = b
            links.append((u, v))
    while len(links) < n_parts - 1:  # only if the triangulation missed a link: brute force
        inside = np.array([find(k) for k in range(n_parts)])[owner] == find(int(owner[0]))
        here, there = np.flatnonzero(inside), np.flatnonzero(~inside)
        dist = ((pts[here][:, None] - pts[there][None]) ** 2).sum(axis=-1)
        u, v = np.unravel_index(int(dist.argmin()), dist.shape)
        links.append((int(here[u]), int(there[v])))
        group[find(int(owner[there[v]]))] = find(int(owner[here[u]]))
    return links


def _bridge_tree(parts: list[np.ndarray], root: int) -> list[dict[int, list[tuple[int, int]]]]:
    """Bridges leaving each part, away from ``root``: ``{vertex: [(part, its vertex), ...]}``."""
    sizes = [len(p) for p in parts]
    starts = np.cumsum([0, *sizes])
    owner = np.repeat(np.arange(len(parts)), sizes)
    adjacent: list[list[tuple[int, int]]] = [[] for _ in parts]
    for u, v in _bridge_links(np.concatenate(parts), owner):
        adjacent[owner[u]].append((u, v))
        adjacent[owner[v]].append((v, u))
    children: list[dict[int, list[tuple[int, int]]]] = [{} for _ in parts]
    queue, seen = [root], {root}
    for part in queue:
        for u, v in adjacent[part]:
            other = int(owner[v])
            if other not in seen:
                seen.add(other)
                queue.append(other)
                bridges = children[part].setdefault(u - int(starts[part]), [])
                bridges.append((other, v - int(starts[other])))
    return children


def bridge_outlines(parts: list[np.ndarray]) -> np.ndarray:
    """One closed outline through all parts, joined by zero-width bridges.

    The bridges are the shortest links between parts (nearest vertex pairs, chosen as a minimum
    spanning tree, so nearby parts are joined to each other). Starting at vertex 0 of the
    largest part, the walk follows each outline; at a vertex with a bridge it crosses over,
    walks all the way around the other part (and, in turn, its own bridges) back to the bridge
    and returns over it. A single outline comes back unchanged.

    Args:
        parts: ``K x 2`` outlines (``x, y``) of disjoint parts, at least one.

    Returns:
        The ``M x 2`` vertices of the joined outline.

    Raises:
        InputError: No parts, or a part that is not a non-empty ``K x 2`` array of finite numbers.

    Example:
        >>> a = np.array([[0.0, 0], [0, 1], [1, 1], [1, 0]])
        >>> bridge_outlines([a, a + [3, 0]]).astype(int).tolist()
        [[0, 0], [0, 1], [1, 1], [3, 1], [4, 1], [4, 0], [3, 0], [3, 1], [1, 1], [1, 0]]

    """
    parts = [np.asarray(p, dtype=np.float64) for p in parts]
    shapes = [p.shape for p in parts]
    if not parts or any(len(s) != 2 or s[0] == 0 or s[1] != 2 for s in shapes):
        raise InputError(f"parts must be one or more non-empty K x 2 arrays, got shapes {shapes}")
    if not all(np.isfinite(p).all() for p in parts):
        raise InputError("parts must hold finite (x, y), got NaN or inf")
    if len(parts) == 1:
        return parts[0]
    root = int(np.argmax([polygon_area(p) for p in parts]))
    children = _bridge_tree(parts, root)
    out: list[np.ndarray] = []
    stack: list[list[Any]] = [[root, 0, 0, []]]  # part, entry vertex, steps taken, bridges due
    while stack:
        frame = stack[-1]
        part, entry, steps, due = frame
        outline = parts[part]
        if due:
            child, vertex = due.pop()
            stack.append([child, vertex, 0, []])
        elif steps == len(outline):
            stack.pop()
            if stack:  # back at the entry vertex, then over the bridge to the parent's vertex
                out.append(outline[entry])
                up = parts[stack[-1][0]]
                out.append(up[(stack[-1][1] + stack[-1][2] - 1) % len(up)])
        else:
            vertex = (entry + steps) % len(outline)
            out.append(outline[vertex])
            frame[2], frame[3] = steps + 1, list(reversed(children[part].get(vertex, [])))
    return np.asarray(out, dtype=np.float64)


def segments_to_yolo(segments: Segments, class_id: int = 0, tolerance: float = 1.0) -> str:
    """YOLO-seg label text for all segments with one class (see :func:`masks_to_yolo`).

    Example:
        >>> from idseg.sam.results import Segment
        >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
        >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
        >>> segments_to_yolo(Segments([seg], (8, 8)), class_id=3).split()[:3]
        ['3', '0.250000', '0.250000']

    """
    return masks_to_yolo(segments.masks, class_id, tolerance)


__all__ = [
    "bridge_outlines",
    "masks_to_yolo",
    "segments_to_yolo",
]
