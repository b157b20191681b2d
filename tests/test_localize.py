"""The localiser's region logic on hand-made probability maps (no model involved)."""

from __future__ import annotations

import numpy as np

from idseg.documents.evaluate import quad_iou
from idseg.documents.localize import Localized, Localizer, _regions, best_quad

H, W = 180, 260
WINDOW = (0, 0, W, H)


def _probs(labels: np.ndarray) -> np.ndarray:
    """One-hot background / document / edge probabilities of a label map."""
    return np.eye(3, dtype=np.float32)[labels].transpose(2, 0, 1).copy()


def _card(labels: np.ndarray, x0: int, y0: int, x1: int, y1: int, band: int = 3) -> np.ndarray:
    """Paint a document with its edge band along its own outline; return its quad."""
    labels[y0:y1, x0:x1] = 2
    labels[y0 + band : y1 - band, x0 + band : x1 - band] = 1
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _quads(labels: np.ndarray) -> list[np.ndarray]:
    out = []
    for _, prob in _regions(_probs(labels), WINDOW, min_pixels=30.0, edge_px=3):
        fitted = best_quad(prob, WINDOW)
        assert fitted is not None
        out.append(fitted[0])
    return out


def test_a_pen_across_a_card_does_not_split_it():
    labels = np.zeros((H, W), np.int64)
    card = _card(labels, 40, 30, 200, 131)  # 160 x 101: TD1's 1.586
    labels[:, 112:124] = 0  # the pen: background straight across, no edge band along it
    assert len(_regions(_probs(labels), WINDOW, 30.0, 3)) == 1
    (quad,) = _quads(labels)
    assert quad_iou(quad, card) > 0.95


def test_documents_side_by_side_stay_apart():
    # Two TD1 cards stacked 4 px apart: together they would be Letter-shaped (0.79), but each
    # keeps its edge band along the gap.
    labels = np.zeros((H, W), np.int64)
    top = _card(labels, 60, 20, 160, 83)
    bottom = _card(labels, 60, 87, 160, 150)
    quads = _quads(labels)
    assert len(quads) == 2
    for gt in (top, bottom):
        assert max(quad_iou(q, gt) for q in quads) > 0.9


def test_a_crumb_beside_a_card_is_not_joined_to_it():
    labels = np.zeros((H, W), np.int64)
    card = _card(labels, 40, 30, 200, 131)
    labels[140:152, 100:112] = 1  # a small blob below the card, no band
    quads = _quads(labels)
    assert len(quads) == 2
    assert max(quad_iou(q, card) for q in quads) > 0.95


class _Fixed(Localizer):
    """A localiser whose closer look returns fixed candidates (to test how they compete)."""

    def __init__(self, closer: list[Localized]) -> None:
        self.closer = closer

    def _refine(self, image, coarse, size=None):  # type: ignore[no-untyped-def]
        return self.closer


def _loc(quad: np.ndarray, score: float, fill: float) -> Localized:
    return Localized(quad.astype(np.float64), score, fill)


def test_a_closer_look_that_fits_worse_keeps_the_first_document():
    first = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.9, 0.84)
    piece = _loc(np.array([[10, 10], [90, 10], [90, 111], [10, 111]]), 0.7, 0.8)
    crumb = _loc(np.array([[300, 10], [320, 10], [320, 30], [300, 30]]), 0.7, 0.8)
    out = _Fixed([piece, crumb])._closer(np.zeros((1, 1, 3), np.uint8), first, 256)
    assert [id(o) for o in out] == [id(first), id(crumb)]


def test_a_closer_look_that_fits_better_replaces_the_first_document():
    first = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.9, 0.7)
    left = _loc(np.array([[10, 10], [88, 10], [88, 111], [10, 111]]), 0.95, 0.97)
    right = _loc(np.array([[92, 10], [170, 10], [170, 111], [92, 111]]), 0.95, 0.97)
    out = _Fixed([left, right])._closer(np.zeros((1, 1, 3), np.uint8), first, 256)
    assert [id(o) for o in out] == [id(left), id(right)]
    assert (
        _Fixed([])._closer(np.zeros((1, 1, 3), np.uint8), _loc(first.quad, 0.9, 0.95), 9)[0].fill
        == 0.95
    )  # a good fit is not looked at again


def test_truncated_documents_need_less_confidence_than_unknown_shapes():
    from types import SimpleNamespace

    from idseg.documents.pipeline import DocumentPipeline, PipelineSettings

    pipe = DocumentPipeline.__new__(DocumentPipeline)
    pipe.settings = PipelineSettings(unknown_min_score=0.9, truncated_min_score=0.75)

    def keeps(kind: str | None, score: float, truncated: bool, corner: float = 50.0) -> bool:
        quad = np.array([[50, 50], [150, 50], [150, corner + 100], [50, 150]], np.float64)
        doc = SimpleNamespace(kind=kind, score=score, truncated=truncated, quad=quad)
        return pipe._plausible(doc, 640, 480)  # type: ignore[arg-type]

    assert keeps("td1", 0.6, False) and keeps("td1", 0.6, True)
    assert not keeps(None, 0.85, False) and keeps(None, 0.85, True)
    assert keeps(None, 0.95, False) and not keeps(None, 0.7, True)
    # a corner within 1 % of the shorter side (4.8 px) of the photo's edge: maybe cut there
    assert keeps(None, 0.85, False, corner=376.0) and not keeps(None, 0.85, False, corner=370.0)


def test_a_closer_look_with_a_document_shape_replaces_a_shapeless_first_document():
    # two cards merged at the first scale: 250 x 101 is no document's shape; the closer look's
    # card (160 x 101, TD1) wins even with a lower agreement
    first = _loc(np.array([[10, 10], [260, 10], [260, 111], [10, 111]]), 0.9, 0.88)
    card = _loc(np.array([[100, 10], [260, 10], [260, 111], [100, 111]]), 0.9, 0.85)
    out = _Fixed([card])._closer(np.zeros((1, 1, 3), np.uint8), first, 256)
    assert [id(o) for o in out] == [id(card)]
