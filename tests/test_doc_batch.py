"""redact_handler and label_map behaviours that protect against leaks (hand-made results)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from idseg.documents.doc_batch import redact_handler, run_documents
from idseg.documents.result import Document, DocumentField, DocumentResult


def _doc(field_map: np.ndarray, fields: list[DocumentField]) -> Document:
    h, w = field_map.shape
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    return Document(
        quad, 0.9, None, w / h, np.zeros((h, w, 3), np.uint8), np.eye(3), field_map, fields
    )


def _field(cls: str, mask: np.ndarray) -> DocumentField:
    ys, xs = np.nonzero(mask)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return DocumentField(cls, 0.9, box, np.zeros((0, 2)), np.zeros((0, 2)), mask, int(mask.sum()))


class _Fake:
    def __init__(self, result: DocumentResult) -> None:
        self.result = result

    def analyze(self, image: np.ndarray) -> DocumentResult:
        return self.result


def _result_with_mrz_only() -> DocumentResult:
    fmap = np.ones((20, 30), np.uint8)
    mrz = np.zeros((20, 30), bool)
    mrz[15:19, 2:28] = True
    fmap[mrz] = 3
    return DocumentResult(20, 30, [_doc(fmap, [_field("mrz", mrz)])])


def test_missing_classes_are_listed_and_the_copy_is_still_written(tmp_path: Path):
    image = np.full((20, 30, 3), 200, np.uint8)
    handle = redact_handler(_Fake(_result_with_mrz_only()), "portrait,mrz", "fill", 0)  # type: ignore[arg-type]
    facts = handle(image, tmp_path / "card", "card.png")
    assert facts["written"] is True and facts["missing"] == {"1": ["portrait"]}
    out = np.asarray(Image.open(tmp_path / "card.png"))
    assert (out[15:19, 2:28] == 0).all() and (out[0:10] == 200).all()


def test_required_class_missing_means_nothing_written(tmp_path: Path):
    image = np.full((20, 30, 3), 200, np.uint8)
    handle = redact_handler(  # type: ignore[arg-type]
        _Fake(_result_with_mrz_only()), "portrait,mrz", "fill", 0, None, "portrait"
    )
    facts = handle(image, tmp_path / "card", "card.png")
    assert facts["written"] is False and facts["incomplete"] == ["portrait"]
    assert not (tmp_path / "card.png").exists()


def test_summary_counts_incomplete_images(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(src / "a.png")
    handle = redact_handler(  # type: ignore[arg-type]
        _Fake(_result_with_mrz_only()), "portrait,mrz", "fill", 0, None, "portrait"
    )
    summary = run_documents([src], tmp_path / "out", handle)
    assert summary["incomplete"] == 1 and summary["ok"] == 1


def test_label_map_paints_every_documents_fields_over_other_documents():
    big = np.ones((20, 30), np.uint8)
    portrait = np.zeros((20, 30), bool)
    portrait[2:8, 2:8] = True
    big[portrait] = 2
    small = np.ones((10, 10), np.uint8)  # a smaller document lying over the portrait
    result = DocumentResult(20, 30, [_doc(big, [_field("portrait", portrait)]), _doc(small, [])])
    labels = result.label_map()
    assert (labels[2:8, 2:8] == 2).all(), "the portrait under the small document stays a field"
    assert (labels[10:, 10:] == 1).all()


def test_a_handler_exception_of_any_type_does_not_stop_the_batch(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / name)
    calls = []

    def handle(image: np.ndarray, out: Path, source: str) -> dict:
        calls.append(source)
        if source == "a.png":
            raise IndexError("boom")
        return {"documents": 1}

    summary = run_documents([src], tmp_path / "out", handle)
    assert calls == ["a.png", "b.png"]
    assert summary["failed"] == 1 and summary["ok"] == 1
    assert summary["files"][0]["error_type"] == "IndexError"
