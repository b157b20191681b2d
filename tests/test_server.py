"""HTTP service: answers against the library called directly, every limit, concurrency, isolation."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from _helpers import make_scene
from idseg.formats import rle_to_mask
from idseg.sam.everything import EverythingGenerator
from idseg.sam.predictor import SAM2Predictor
from idseg.server.app import create_app
from idseg.server.settings import ServerSettings

SAMPLE = Path(__file__).resolve().parents[1] / "src/idseg/assets/samples/us_card.png"


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return SAM2Predictor(tiny_model)


@pytest.fixture(scope="module")
def pipeline():
    from idseg.documents.pipeline import DocumentPipeline

    return DocumentPipeline()


@pytest.fixture
def client(predictor, pipeline):
    with TestClient(create_app(predictor, pipeline, ServerSettings())) as c:
        yield c


def upload(client, image: np.ndarray) -> str:
    r = client.post("/v1/sessions", content=png(image))
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def _refined(predictor, image: np.ndarray, logits: np.ndarray):
    """The library's single-mask answer to the click at (60, 50) refined from ``logits``."""
    return predictor.predict(
        points=np.array([[60, 50]], float),
        labels=np.array([1]),
        multimask_output=False,
        mask_input=logits,
        embedding=predictor.embed(image),
    )


def test_health_ready_docs_and_page(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] and ready["sam2"] and ready["documents"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/sessions", "/v1/sessions/{session_id}/predict", "/v1/documents"} <= set(paths)
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404


def test_not_ready_without_models():
    with TestClient(create_app()) as c:
        assert c.get("/ready").status_code == 503


def test_prompt_answers_equal_the_library(client, predictor):
    image = make_scene(120, 160, seed=3)
    sid = upload(client, image)
    body = {"points": [[60, 50], [100, 80]], "labels": [1, 0], "box": [20, 10, 140, 110]}
    r = client.post(f"/v1/sessions/{sid}/predict", json={**body, "format": ["rle", "png"]})
    assert r.status_code == 200, r.text
    got = r.json()["masks"]
    ref = predictor.predict(
        points=np.array(body["points"], float),
        labels=np.array([1, 0]),
        boxes=np.array(body["box"], float),
        embedding=predictor.embed(image),
    )
    order = np.argsort(-ref.scores[0], kind="stable")
    assert len(got) == 3
    for item, i in zip(got, order, strict=True):
        assert np.array_equal(rle_to_mask(item["rle"]), ref.masks[0, i])
        assert item["score"] == pytest.approx(float(ref.scores[0, i]), abs=1e-6)
        assert item["area"] == int(ref.masks[0, i].sum())
        decoded = np.array(Image.open(io.BytesIO(base64.b64decode(item["png"]))))
        assert np.array_equal(decoded.astype(bool), ref.masks[0, i])
    # Refinement: the best answer's logits go back in as the mask input.
    best = int(np.argmax(ref.scores[0]))
    again = client.post(
        f"/v1/sessions/{sid}/predict",
        json={"points": [[60, 50]], "refine": True, "multimask": False},
    )
    ref2 = _refined(predictor, image, ref.low_res_logits[0, best : best + 1])
    assert np.array_equal(rle_to_mask(again.json()["masks"][0]["rle"]), ref2.masks[0, 0])
    # Refining from another candidate: the third mask of a fresh multimask answer.
    client.post(f"/v1/sessions/{sid}/predict", json={"points": [[60, 50]]})
    third = client.post(
        f"/v1/sessions/{sid}/predict",
        json={"points": [[60, 50]], "refine": True, "candidate": 2, "multimask": False},
    )
    first = predictor.predict(
        points=np.array([[60, 50]], float), labels=np.array([1]), embedding=predictor.embed(image)
    )
    pick = int(np.argsort(-first.scores[0], kind="stable")[2])
    ref3 = _refined(predictor, image, first.low_res_logits[0, pick : pick + 1])
    assert np.array_equal(rle_to_mask(third.json()["masks"][0]["rle"]), ref3.masks[0, 0])
    bad = client.post(
        f"/v1/sessions/{sid}/predict", json={"points": [[60, 50]], "refine": True, "candidate": 2}
    )
    assert bad.status_code == 422 and "has 1" in bad.text  # the last answer had one mask


def test_boxes_everything_and_polygons(client, predictor):
    image = make_scene(100, 140, seed=4)
    sid = upload(client, image)
    boxes = [[5, 5, 60, 50], [40, 30, 130, 90], [0, 0, 140, 100]]
    r = client.post(f"/v1/sessions/{sid}/boxes", json={"boxes": boxes})
    ref = predictor.predict(
        boxes=np.array(boxes, float), multimask_output=False, embedding=predictor.embed(image)
    )
    for item, mask in zip(r.json()["masks"], ref.masks[:, 0], strict=True):
        assert np.array_equal(rle_to_mask(item["rle"]), mask)
    loose = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    r = client.post(f"/v1/sessions/{sid}/everything", json={**loose, "format": ["rle", "polygons"]})
    assert r.status_code == 200, r.text
    segs = r.json()["segments"]
    ref_segs = EverythingGenerator(predictor, **loose).generate(image)
    assert len(segs) == len(ref_segs) > 0
    for item, seg in zip(segs, ref_segs, strict=True):
        assert np.array_equal(rle_to_mask(item["rle"]), seg.mask)
        assert all(len(p["exterior"]) >= 3 for p in item["polygons"])


def test_documents_endpoint_equals_the_pipeline(client, pipeline):
    data = SAMPLE.read_bytes()
    r = client.post("/v1/documents", content=data)
    assert r.status_code == 200, r.text
    ref = pipeline.analyze(data).to_dict()
    got = r.json()
    assert got["found"] and len(got["documents"]) == len(ref["documents"]) >= 1
    assert got["documents"][0]["quad"] == ref["documents"][0]["quad"]
    assert [f["class"] for f in got["documents"][0]["fields"]] == [
        f["class"] for f in ref["documents"][0]["fields"]
    ]
    assert "rectified_png" not in got["documents"][0]
    with_images = client.post("/v1/documents?images=true", content=data).json()["documents"][0]
    doc = pipeline.analyze(data).documents[0]
    rect = np.array(Image.open(io.BytesIO(base64.b64decode(with_images["rectified_png"]))))
    labels = np.array(Image.open(io.BytesIO(base64.b64decode(with_images["fields_png"]))))
    assert np.array_equal(rect, doc.rectified)
    assert np.array_equal(labels, doc.field_map)


def counting(predictor, monkeypatch) -> list[int]:
    calls: list[int] = []
    original = predictor.predict

    def wrapped(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(predictor, "predict", wrapped)
    return calls


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"points": [[10, 10]] * 65}, "at most 64 points"),
        ({"points": [[500, 10]]}, "outside the 160x120 image"),
        ({"points": [[-1, 10]]}, "outside"),
        ({"points": [[10, 10]], "labels": [1, 0]}, "labels must match points"),
        ({"box": [50, 10, 20, 90]}, "box"),
        ({}, "give points, a box, or both"),
        ({"points": [[10, 10]], "labels": [2]}, "labels"),
        ({"points": [[10, 10]], "format": "jpeg"}, "format"),
        ({"points": [[10, 10]], "extra": 1}, "extra"),
    ],
)
def test_bad_prompts_get_422_without_touching_the_model(
    client, predictor, monkeypatch, body, message
):
    sid = upload(client, make_scene(120, 160, seed=5))
    calls = counting(predictor, monkeypatch)
    r = client.post(f"/v1/sessions/{sid}/predict", json=body)
    assert r.status_code == 422
    assert message in r.text
    assert calls == []


def test_nan_and_infinity_get_422(client, predictor, monkeypatch):
    sid = upload(client, make_scene(120, 160, seed=5))
    calls = counting(predictor, monkeypatch)
    for raw in ('{"points": [[NaN, 10]]}', '{"box": [0, 0, Infinity, 10]}'):
        r = client.post(
            f"/v1/sessions/{sid}/predict", content=raw, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, raw
    assert calls == []


def test_upload_limits(predictor):
    settings = ServerSettings(max_upload_bytes=50_000, max_pixels=10_000)
    with TestClient(create_app(predictor, None, settings)) as c:
        big = b"\x89PNG" + b"\x00" * 60_000
        r = c.post("/v1/sessions", content=big)
        assert r.status_code == 413 and "limit of 50000 bytes" in r.text

        def chunks():
            for _ in range(10):
                yield b"\x00" * 10_000

        r = c.post("/v1/sessions", content=chunks())  # chunked: no Content-Length
        assert r.status_code == 413
        r = c.post("/v1/sessions", content=png(make_scene(120, 160)))  # 19 200 px > 10 000
        assert r.status_code == 413 and "pixels" in r.text
        r = c.post("/v1/sessions", content=b"this is not an image")
        assert r.status_code == 415
        assert c.post("/v1/sessions", content=b"").status_code == 422
        assert c.post("/v1/sessions/nope/predict", json={"points": [[1, 1]]}).status_code == 404
        assert c.get("/health").status_code == 200  # still answering


def test_no_sam2_checkpoint_gets_409(pipeline):
    with TestClient(create_app(None, pipeline)) as c:
        sid = c.post("/v1/sessions", content=png(make_scene(60, 80))).json()["session_id"]
        r = c.post(f"/v1/sessions/{sid}/predict", json={"points": [[1, 1]]})
        assert r.status_code == 409 and "--checkpoint" in r.text


def test_full_queue_answers_503_with_retry_after(predictor, monkeypatch):
    release, started = threading.Event(), threading.Event()
    original = predictor.predict

    def slow(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    settings = ServerSettings(workers=1, max_queue=0)
    with TestClient(create_app(predictor, None, settings)) as c:
        sid = upload(c, make_scene(60, 80))
        monkeypatch.setattr(predictor, "predict", slow)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(c.post, f"/v1/sessions/{sid}/predict", json={"points": [[5, 5]]})
            assert started.wait(10)
            busy = c.post(f"/v1/sessions/{sid}/predict", json={"points": [[5, 5]]})
            release.set()
            assert first.result().status_code == 200
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert c.post(f"/v1/sessions/{sid}/predict", json={"points": [[5, 5]]}).status_code == 200


def test_time_limit_answers_504(predictor, monkeypatch):
    original = predictor.predict

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return original(*args, **kwargs)

    with TestClient(create_app(predictor, None, ServerSettings(request_timeout_s=0.2))) as c:
        sid = upload(c, make_scene(60, 80))
        monkeypatch.setattr(predictor, "predict", slow)
        r = c.post(f"/v1/sessions/{sid}/predict", json={"points": [[5, 5]]})
        assert r.status_code == 504
        time.sleep(1.0)  # let the abandoned call finish before the next test


def test_sessions_are_lru_bounded_and_deletable(predictor):
    with TestClient(create_app(predictor, None, ServerSettings(max_sessions=2))) as c:
        ids = [upload(c, make_scene(40, 50, seed=i)) for i in range(3)]
        assert (
            c.post(f"/v1/sessions/{ids[0]}/predict", json={"points": [[5, 5]]}).status_code == 404
        )
        assert (
            c.post(f"/v1/sessions/{ids[2]}/predict", json={"points": [[5, 5]]}).status_code == 200
        )
        assert c.delete(f"/v1/sessions/{ids[2]}").status_code == 204
        assert c.delete(f"/v1/sessions/{ids[2]}").status_code == 404
        assert len(ids[1]) >= 24  # unguessable ids


def test_32_parallel_sessions_each_get_their_own_image(predictor):
    settings = ServerSettings(workers=2, max_queue=64, max_sessions=64)
    images = [make_scene(64, 80, seed=100 + i) for i in range(32)]
    box = [10, 8, 70, 56]
    expected = [
        predictor.predict(
            boxes=np.array(box, float), multimask_output=False, embedding=predictor.embed(img)
        ).masks[0, 0]
        for img in images
    ]
    assert len({m.tobytes() for m in expected}) > 16  # the images give different answers
    with TestClient(create_app(predictor, None, settings)) as c:

        def one(i: int) -> np.ndarray:
            sid = upload(c, images[i])
            r = c.post(f"/v1/sessions/{sid}/predict", json={"box": box, "multimask": False})
            assert r.status_code == 200, r.text
            return rle_to_mask(r.json()["masks"][0]["rle"])

        with ThreadPoolExecutor(32) as pool:
            got = list(pool.map(one, range(32)))
    for mask, ref in zip(got, expected, strict=True):
        assert np.array_equal(mask, ref)


def test_no_cors_unless_configured_and_no_image_in_logs(predictor, caplog, tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).iterdir())
    caplog.set_level("DEBUG")
    with TestClient(create_app(predictor, None)) as c:
        r = c.post(
            "/v1/sessions",
            content=png(make_scene(40, 50)),
            headers={"origin": "https://elsewhere.example"},
        )
        assert "access-control-allow-origin" not in r.headers
    assert not any("PNG" in rec.getMessage() for rec in caplog.records)
    assert set(Path(tempfile.gettempdir()).iterdir()) == before  # nothing written to disk
    settings = ServerSettings(cors_origins=("https://annotate.example",))
    with TestClient(create_app(predictor, None, settings)) as c:
        r = c.get("/health", headers={"origin": "https://annotate.example"})
        assert r.headers["access-control-allow-origin"] == "https://annotate.example"


def test_serve_command_binds_to_localhost_by_default():
    from typer.testing import CliRunner

    from idseg.cli.app import app

    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "127.0.0.1" in out.output and "--max-upload-mb" in out.output
    assert json.loads(json.dumps(ServerSettings().__dict__, default=list))["max_queue"] == 8
