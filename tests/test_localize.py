"""The localiser's region logic on hand-made probability maps (no model involved)."""

from __future__ import annotations

import numpy as np

from idseg.documents.evaluate import quad_iou
from idseg.documents.localize import (
    Localized,
    Localizer,
    _keep_whole,
    best_quad,
    complete,
    find_regions,
    seen,
)

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
    for _, prob in find_regions(_probs(labels), WINDOW, min_pixels=30.0, edge_px=3):
        fitted = best_quad(prob, WINDOW)
        assert fitted is not None
        out.append(fitted[0])
    return out


def test_a_pen_across_a_card_does_not_split_it():
    labels = np.zeros((H, W), np.int64)
    card = _card(labels, 40, 30, 200, 131)  # 160 x 101: TD1's 1.586
    labels[:, 112:124] = 0  # the pen: background straight across, no edge band along it
    assert len(find_regions(_probs(labels), WINDOW, 30.0, 3)) == 1
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
    """A localiser whose closer look finds fixed candidates (to test how they compete).

    As :meth:`Localizer._refine` does, the first document stays when its pieces fit worse.
    """

    def __init__(self, closer: list[Localized]) -> None:
        self.closer = closer

    def _refine(self, image, coarse, size=None):  # type: ignore[no-untyped-def]
        return _keep_whole(coarse, self.closer or [coarse], image.shape[:2])


#: The photo the fixed candidates lie in (only its size is read).
_PHOTO = np.zeros((480, 640, 3), np.uint8)


def _loc(quad: np.ndarray, score: float, fill: float) -> Localized:
    return Localized(quad.astype(np.float64), score, fill)


def test_a_closer_look_that_fits_worse_keeps_the_first_document():
    first = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.9, 0.84)
    piece = _loc(np.array([[10, 10], [90, 10], [90, 111], [10, 111]]), 0.7, 0.8)
    crumb = _loc(np.array([[300, 10], [320, 10], [320, 30], [300, 30]]), 0.7, 0.8)
    out = _Fixed([piece, crumb])._closer(_PHOTO, first, 256)
    assert [id(o) for o in out] == [id(first), id(crumb)]


def test_a_closer_look_that_fits_better_replaces_the_first_document():
    first = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.9, 0.7)
    left = _loc(np.array([[10, 10], [88, 10], [88, 111], [10, 111]]), 0.95, 0.97)
    right = _loc(np.array([[92, 10], [170, 10], [170, 111], [92, 111]]), 0.95, 0.97)
    out = _Fixed([left, right])._closer(_PHOTO, first, 256)
    assert [id(o) for o in out] == [id(left), id(right)]
    assert (
        _Fixed([])._closer(_PHOTO, _loc(first.quad, 0.9, 0.95), 9)[0].fill == 0.95
    )  # a good fit is not looked at again
    done = Localized(first.quad, 0.9, 0.7, completed=True)
    assert _Fixed([left, right])._closer(_PHOTO, done, 256) == [done]


def test_a_card_cut_by_a_pen_is_not_replaced_by_its_shapeless_sides():
    from idseg.documents.regions import kind_of

    # The first pass joined the two sides of a pen across an ID-1 card; at a closer look they
    # fit better apart, but neither side has a document's shape, so the card stays.
    card = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.9, 0.76)
    left = _loc(np.array([[10, 10], [110, 10], [110, 111], [10, 111]]), 0.95, 0.97)
    right = _loc(np.array([[118, 10], [170, 10], [170, 111], [118, 111]]), 0.95, 0.97)
    assert kind_of(card.quad) == "td1" and kind_of(left.quad) is None is kind_of(right.quad)
    assert [id(o) for o in _Fixed([left, right])._closer(_PHOTO, card, 256)] == [id(card)]
    # A side reaching the photo's edge may be a document cut there: the sides win.
    edge = _loc(np.array([[0, 10], [110, 10], [110, 111], [0, 111]]), 0.95, 0.97)
    wide = _loc(np.array([[0, 10], [170, 10], [170, 111], [0, 111]]), 0.9, 0.76)
    out = _Fixed([edge, right])._closer(_PHOTO, wide, 256)
    assert [id(o) for o in out] == [id(edge), id(right)]


def _judge():  # type: ignore[no-untyped-def]
    """A pipeline with no models, enough for its plausibility test (``_plausible``)."""
    from idseg.documents.pipeline import DocumentPipeline, PipelineSettings

    pipe = DocumentPipeline.__new__(DocumentPipeline)
    pipe.settings = PipelineSettings(unknown_min_score=0.9, truncated_min_score=0.75)
    return pipe


def test_truncated_documents_need_less_confidence_than_unknown_shapes():
    from types import SimpleNamespace

    pipe = _judge()

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
    out = _Fixed([card])._closer(_PHOTO, first, 256)
    assert [id(o) for o in out] == [id(card)]


def test_a_cut_out_split_that_fits_worse_keeps_the_first_document():
    # a letter (216 x 279) cut in two at a table rule by the cut-out pass: both pieces lie
    # inside the first quad and fit worse, so the first document stays; a card outside stays too
    letter = _loc(np.array([[100, 50], [316, 50], [316, 329], [100, 329]]), 0.95, 0.99)
    top = _loc(np.array([[100, 50], [316, 50], [316, 190], [100, 190]]), 0.95, 0.9)
    bottom = _loc(np.array([[100, 194], [316, 194], [316, 329], [100, 329]]), 0.95, 0.85)
    card = _loc(np.array([[400, 50], [560, 50], [560, 151], [400, 151]]), 0.95, 0.97)
    out = _keep_whole(letter, [top, bottom, card], (480, 640))
    assert [id(o) for o in out] == [id(letter), id(card)]
    # the same letter reaching within 1 % of the photo's right edge (maybe cut there: its shape
    # says nothing)
    cut = _loc(np.array([[500, 50], [637, 50], [637, 329], [500, 329]]), 0.95, 0.99)
    pieces = [_loc(q + np.array([400.0, 0.0]), 0.95, 0.9) for q in (top.quad, bottom.quad)]
    assert _keep_whole(cut, pieces, (480, 640)) == [cut]
    # two cards the first pass merged (no kind's shape, poor fit) split here
    merged = _loc(np.array([[10, 10], [340, 10], [340, 111], [10, 111]]), 0.9, 0.8)
    left = _loc(np.array([[10, 10], [170, 10], [170, 111], [10, 111]]), 0.95, 0.97)
    right = _loc(np.array([[180, 10], [340, 10], [340, 111], [180, 111]]), 0.95, 0.96)
    assert _keep_whole(merged, [left, right], (480, 640)) == [left, right]
    assert _keep_whole(letter, [letter, card], (480, 640)) == [letter, card]


def test_the_document_refitted_is_no_piece_of_itself():
    # The cut-out's refit of the first pass's card, a pixel off and agreeing a little less with
    # its (finer) region: it replaces the first quad instead of being dropped as a piece.
    card = _loc(np.array([[100, 50], [260, 50], [260, 151], [100, 151]]), 0.95, 0.96)
    refit = _loc(
        card.quad + np.array([[0.0, -1.0], [1.0, -1.0], [1.0, 0.0], [0.0, 0.0]]), 0.95, 0.958
    )
    assert quad_iou(refit.quad, card.quad) > 0.9
    assert [id(o) for o in _keep_whole(card, [refit], (480, 640))] == [id(refit)]
    # With a losing piece beside it, the document stays once, refitted.
    piece = _loc(np.array([[100, 50], [160, 50], [160, 100], [100, 100]]), 0.9, 0.5)
    out = _keep_whole(card, [refit, piece], (480, 640))
    assert [id(o) for o in out] == [id(refit)]


def _cut_out_of_a_card(monkeypatch, first_fill_above_refit: float) -> tuple[Localized, list]:
    """The cut-out pass on a clean card, the first pass's quad agreeing better by so much."""
    import idseg.documents.localize as localize

    loc = Localizer.__new__(Localizer)
    loc.model, loc.size, loc.refine_size, loc.snap = None, 192, None, False
    loc.min_area, loc.min_score, loc.max_documents = 0.004, 0.6, 10

    def card_map(model, crop, size):  # the 160 x 101 card in the middle of its cut-out
        labels = np.zeros(crop.shape[:2], np.int64)
        mx, my = (crop.shape[1] - 160) // 2, (crop.shape[0] - 101) // 2
        _card(labels, mx, my, mx + 160, my + 101)
        labels[my : my + 10, mx + 40 : mx + 80] = 0  # a notch: the refit agrees less than fully
        return _probs(labels), (0, 0, crop.shape[1], crop.shape[0])

    monkeypatch.setattr(localize, "_probabilities", card_map)
    labels = np.zeros((H, W), np.int64)
    quad = _card(labels, 40, 30, 200, 131)
    probe = _loc(quad, 0.95, 0.0)  # fits worse than anything: the refit replaces it
    refit_fill = loc._refine(np.zeros((H, W, 3), np.uint8), probe)[0].fill
    assert 0.9 < refit_fill < 1.0 - first_fill_above_refit
    first = _loc(quad, 0.95, min(1.0, refit_fill + first_fill_above_refit))
    return first, loc._refine(np.zeros((H, W, 3), np.uint8), first)


def test_the_finer_refit_wins_a_near_tie(monkeypatch):
    first, out = _cut_out_of_a_card(monkeypatch, 0.003)
    assert len(out) == 1 and out[0] is not first
    first, out = _cut_out_of_a_card(monkeypatch, 0.02)  # the first pass clearly fits better
    assert [id(o) for o in out] == [id(first)]


def _probs4(labels: np.ndarray) -> np.ndarray:
    """One-hot background / document / edge / hidden probabilities of a label map."""
    return np.eye(4, dtype=np.float32)[labels].transpose(2, 0, 1).copy()


def _covered_card() -> tuple[np.ndarray, np.ndarray]:
    """A TD1 card whose right part a hand covers (hidden), the hand going on beyond the card."""
    labels = np.zeros((H, W), np.int64)
    card = _card(labels, 40, 30, 200, 131)
    labels[20:150, 150:230] = 0  # the hand, over the card and past it
    labels[30:131, 150:200] = 3  # where it covers the card
    return labels, card


def test_complete_returns_the_whole_card_under_a_hand():
    labels, card = _covered_card()
    probs = _probs4(labels)
    seen_region = seen(probs)[1:].sum(axis=0) > 0.5
    visible = best_quad(np.where(seen_region, 1.0, 0.0).astype(np.float32), WINDOW)
    assert visible is not None and quad_iou(visible[0], card) < 0.75  # what is seen: 110 of 160
    done = complete(probs, seen_region, np.zeros_like(seen_region), WINDOW)
    assert done is not None
    assert quad_iou(done[0], card) > 0.97 and done[1] > 0.95


def test_complete_keeps_what_is_seen_when_the_completion_is_no_document():
    labels, _ = _covered_card()
    labels[131:175, 150:200] = 3  # "hidden" spilling far below the card: 160 x 145, no kind
    probs = _probs4(labels)
    region = seen(probs)[1:].sum(axis=0) > 0.5
    assert complete(probs, region, np.zeros_like(region), WINDOW) is None
    plain = np.zeros((H, W), np.int64)
    _card(plain, 40, 30, 200, 131)  # nothing covered: nothing to complete
    region = plain > 0
    assert complete(_probs4(plain), region, np.zeros_like(region), WINDOW) is None


def test_complete_leaves_other_documents_out():
    labels, card = _covered_card()
    _card(labels, 205, 30, 255, 110)  # another document touching the hand's right side
    probs = _probs4(labels)
    regions = find_regions(seen(probs), WINDOW, 30.0, 3)
    masks = [prob > 0.5 for _, prob in regions]
    first = int(np.argmax([m[:, :150].sum() for m in masks]))
    done = complete(probs, masks[first], masks[1 - first], WINDOW)
    assert done is not None and quad_iou(done[0], card) > 0.97


def test_a_four_class_localizer_completes_and_a_three_class_one_does_not(monkeypatch):
    import idseg.documents.localize as localize

    labels, card = _covered_card()
    image = np.zeros((H, W, 3), np.uint8)
    loc = Localizer.__new__(Localizer)
    loc.model, loc.size, loc.refine_size, loc.snap = None, 192, 0, False
    loc.min_area, loc.min_score, loc.max_documents = 0.004, 0.6, 10
    for probs, completed in (
        (_probs4(labels), True),
        (_probs(np.minimum(labels, 0) + labels % 3), False),
    ):
        monkeypatch.setattr(localize, "_probabilities", lambda *a, p=probs: (p, WINDOW))
        (doc,) = loc.localize(image)
        assert doc.completed is completed
        assert (quad_iou(doc.quad, card) > 0.97) is completed


def test_a_refit_running_out_of_the_cut_out_keeps_the_first_document(monkeypatch):
    import idseg.documents.localize as localize

    loc = Localizer.__new__(Localizer)
    loc.model, loc.size, loc.refine_size, loc.snap = None, 192, None, False
    loc.min_area, loc.min_score, loc.max_documents = 0.004, 0.6, 10
    first = _loc(np.array([[100, 60], [130, 60], [130, 79], [100, 79]]), 0.95, 0.99)

    def everything_document(model, crop, size):  # the model sees document all over the cut-out
        labels = np.ones(crop.shape[:2], np.int64)
        labels[: crop.shape[0] // 3, : crop.shape[1] // 4] = 0  # but for a ragged corner
        return _probs(labels), (0, 0, crop.shape[1], crop.shape[0])

    monkeypatch.setattr(localize, "_probabilities", everything_document)
    out = loc._refine(np.zeros((H, W, 3), np.uint8), first)
    assert [id(o) for o in out] == [id(first)]


def test_document_shaped_allows_perspective_and_the_frame_but_not_spills():
    from idseg.documents.regions import document_shaped

    td1 = np.array([[0, 0], [86, 0], [86, 54], [0, 54]], float)
    assert document_shaped(td1) and document_shaped(td1[:, ::-1].copy())  # either way up
    tilted = np.array([[0, 0], [86, 0], [80, 50], [6, 50]], float)  # seen at an angle: 1.66
    assert document_shaped(tilted)
    square = np.array([[0, 0], [60, 0], [60, 60], [0, 60]], float)
    assert not document_shaped(square)
    assert document_shaped(square - 20.0, (0, 0, 100, 100))  # cut by the frame: no kind needed
    spill = np.array([[0, 0], [86, 0], [86, 90], [0, 40]], float)  # right side 2.25x the left
    assert not document_shaped(spill) and not document_shaped(spill - 20.0, (0, 0, 100, 100))


def test_sides_follow_the_edge_band_not_a_spill_past_the_document():
    from idseg.documents.corners import fit_corners

    labels = np.zeros((H, W), np.int64)
    card = _card(labels, 40, 50, 200, 151)
    labels[30:50, 150:200] = 1  # white paper above the card read as document: no band there
    probs = _probs(labels)
    region = np.where(labels > 0, 1.0, 0.0).astype(np.float32)
    spilled = fit_corners(region)
    backed = fit_corners(region, edge=probs[2])
    assert spilled is not None and backed is not None
    assert quad_iou(spilled, card) < 0.95  # the spill pulls the top side up
    assert quad_iou(backed, card) > 0.98


class _Coarse(Localizer):
    """A localiser whose first pass finds fixed candidates (no model, no closer look)."""

    def __init__(self, found: list[Localized], snap: bool = False) -> None:
        self.found, self.refine_size, self.snap = found, 0, snap
        self.min_score, self.max_documents, self.min_area = 0.6, 10, 0.004

    def _coarse(self, image):  # type: ignore[no-untyped-def]
        return [Localized(d.quad.copy(), d.score, d.fill) for d in self.found]


def test_a_bent_quad_is_never_returned():
    # The bent sliver a model once gave along a photo's right edge (test_multi/000014): its
    # corner (596.7, 263.5) dents the outline, so no homography rectifies it.
    card = _loc(np.array([[160, 140], [376, 54], [485, 448], [189, 408]]), 0.99, 0.91)
    bent = _loc(np.array([[640, 209.2], [640, 290.1], [565.9, 302.1], [596.7, 263.5]]), 0.82, 0.89)
    out = _Coarse([card, bent]).localize(_PHOTO)
    assert len(out) == 1 and np.array_equal(out[0].quad, card.quad)


def test_snapping_keeps_the_fit_where_it_would_bend_it(monkeypatch):
    from idseg.documents import localize

    card = _loc(np.array([[100, 100], [300, 100], [300, 226], [100, 226]]), 0.95, 0.95)

    def bend(gray, quad, search):  # type: ignore[no-untyped-def]
        out = quad.copy()
        out[2] = (150.0, 120.0)  # pulls a corner inside the quad
        return out

    monkeypatch.setattr(localize, "snap_to_edges", bend)
    (got,) = _Coarse([card], snap=True).localize(_PHOTO)
    assert np.array_equal(got.quad, card.quad)
    monkeypatch.setattr(localize, "snap_to_edges", lambda gray, quad, search: quad + 1.0)
    (got,) = _Coarse([card], snap=True).localize(_PHOTO)
    assert np.array_equal(got.quad, card.quad + 1.0)


def test_a_near_triangle_is_no_document_whatever_its_kind():
    from types import SimpleNamespace

    pipe = _judge()
    # Fitted to a blob on a passport cover's eagle (us_card_rotated.png at half size), a corner
    # at the photo's right edge; its sides 20 / 53 / 94 / 94 px matched a letter page's ratio.
    triangle = np.array([[165.8, 39.3], [186.6, 41.0], [207.1, 89.2], [116.5, 117.2]])
    doc = SimpleNamespace(kind="letter", score=0.721, truncated=False, quad=triangle)
    assert not pipe._plausible(doc, 210, 350)  # type: ignore[arg-type]
    surer = SimpleNamespace(**{**vars(doc), "score": 0.8})  # the bar of a shape cut by the edge
    assert pipe._plausible(surer, 210, 350)  # type: ignore[arg-type]
    card = SimpleNamespace(
        **{**vars(doc), "quad": np.array([[20, 40], [180, 40], [170, 141], [30, 141]], float)}
    )
    assert pipe._plausible(card, 210, 350)  # type: ignore[arg-type]
    # The localiser itself drops quads smaller than min_area of the photo (0.004 x 640 x 480 =
    # 1229 px), however large the region they were fitted to.
    tilted = _loc(np.array([[160, 140], [376, 54], [485, 448], [189, 408]]), 0.99, 0.91)
    speck = _loc(np.array([[500, 300], [530, 300], [530, 340], [500, 340]]), 0.95, 0.9)
    out = _Coarse([tilted, speck]).localize(_PHOTO)
    assert [o.quad.tolist() for o in out] == [tilted.quad.tolist()]
