"""The FastAPI application: sessions, prompts, boxes, segment-everything, documents, the page.

Every model call goes through a bounded :class:`~idseg.server.work.WorkQueue` (503 with
``Retry-After`` when full, 504 past the time limit); request bodies are limited by
:class:`~idseg.server.limits.BodyLimitMiddleware` (413); prompts are checked against the
session's image before any model work (422). Images live in memory only and are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from idseg._version import __version__
from idseg.errors import (
    IdsegError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)
from idseg.io.images import load_image
from idseg.server.encode import encode_mask, png_base64
from idseg.server.limits import BodyLimitMiddleware
from idseg.server.schemas import BoxesRequest, EverythingRequest, PromptRequest
from idseg.server.sessions import Session, SessionStore
from idseg.server.settings import ServerSettings
from idseg.server.work import QueueFullError, WorkQueue, WorkTimeoutError

if TYPE_CHECKING:
    from idseg.documents.pipeline import DocumentPipeline
    from idseg.sam.predictor import SAM2Predictor

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 2


class Models:
    """What the service answers with: a SAM2 predictor and/or the document pipeline.

    SAM2 calls hold one lock: the predictor keeps per-image state between calls.
    """

    def __init__(self, predictor: SAM2Predictor | None, pipeline: DocumentPipeline | None) -> None:
        self.predictor, self.pipeline = predictor, pipeline
        self.sam_lock = threading.Lock()

    def need_sam(self) -> SAM2Predictor:
        """The SAM2 predictor, or 409 when the service runs without one."""
        if self.predictor is None:
            raise HTTPException(
                409, "no SAM2 checkpoint is loaded: start `idseg serve --checkpoint ...`"
            )
        return self.predictor


def create_app(
    predictor: SAM2Predictor | None = None,
    pipeline: DocumentPipeline | None = None,
    settings: ServerSettings | None = None,
) -> Any:
    """The ASGI application (FastAPI inside the body-limit middleware).

    Args:
        predictor: A SAM2 predictor for prompts and segment-everything, or ``None``.
        pipeline: The document pipeline (``DocumentPipeline()`` uses the embedded models), or
            ``None``.
        settings: Limits; default :class:`ServerSettings`.

    Returns:
        An ASGI application; its FastAPI app is ``.app`` (OpenAPI at ``/docs``).

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> client = TestClient(create_app(pipeline=DocumentPipeline()))  # doctest: +SKIP
        >>> client.get("/health").json()  # doctest: +SKIP
        {'status': 'ok'}
    """
    s = settings or ServerSettings()
    work = WorkQueue(s.workers, s.max_queue, s.request_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        work.shutdown()

    api = FastAPI(
        title="idseg", version=__version__, description="SAM2 and ID documents.", lifespan=lifespan
    )
    api.state.settings = s
    api.state.models = Models(predictor, pipeline)
    api.state.sessions = SessionStore(s.max_sessions, s.session_ttl_s)
    api.state.work = work
    if s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(s.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    api.add_exception_handler(RequestValidationError, _validation_error)
    _routes(api)
    return BodyLimitMiddleware(api, s.max_upload_bytes)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field and why, without echoing the values (NaN is not JSON)."""
    errors: list[dict[str, Any]] = list(getattr(exc, "errors", list)())
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    """A model call on the work queue, with the service's errors as HTTP answers."""
    try:
        return await request.app.state.work.run(fn, *args)
    except QueueFullError:
        raise HTTPException(
            503,
            "busy: every worker is taken and the queue is full, retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    except WorkTimeoutError:
        raise HTTPException(504, "the request ran past the time limit") from None
    except ImageTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except UnsupportedFormatError as exc:
        raise HTTPException(415, str(exc)) from None
    except IdsegError as exc:  # InputError, CorruptImageError and the rest
        raise HTTPException(422, str(exc)) from None


def _decode(body: bytes, max_pixels: int) -> np.ndarray:
    if not body:
        raise InputError("expected an image in the request body, got 0 bytes")
    return load_image(body, max_pixels=max_pixels)


def _session(request: Request, session_id: str) -> Session:
    session = request.app.state.sessions.get(session_id)
    if session is None:
        raise HTTPException(404, "unknown or expired session: upload the image again")
    return session


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(422, message)


def _check_prompt(req: PromptRequest, hw: tuple[int, int], settings: ServerSettings) -> None:
    """Everything about a prompt that can be wrong, checked before any model work."""
    h, w = hw
    if len(req.points) > settings.max_points:
        raise _unprocessable(f"at most {settings.max_points} points, got {len(req.points)}")
    if req.labels and len(req.labels) != len(req.points):
        raise _unprocessable(
            f"labels must match points: {len(req.points)} points, {len(req.labels)} labels"
        )
    if not req.points and req.box is None and not req.refine:
        raise _unprocessable("give points, a box, or both")
    for x, y in req.points:
        if not (0 <= x <= w and 0 <= y <= h):
            raise _unprocessable(f"point ({x}, {y}) is outside the {w}x{h} image")
    if req.box is not None:
        _check_box(req.box, hw)


def _check_box(box: tuple[float, float, float, float], hw: tuple[int, int]) -> None:
    h, w = hw
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise _unprocessable(
            f"box {list(box)} must satisfy 0 <= x0 < x1 <= {w}, 0 <= y0 < y1 <= {h}"
        )


def _routes(api: FastAPI) -> None:
    @api.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @api.get("/ready", tags=["service"])
    def ready(request: Request) -> JSONResponse:
        """Models are loaded; 503 when neither SAM2 nor the document pipeline is."""
        models: Models = request.app.state.models
        body = {
            "ready": models.predictor is not None or models.pipeline is not None,
            "sam2": models.predictor is not None,
            "documents": models.pipeline is not None,
            "sessions": len(request.app.state.sessions),
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @api.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @api.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = {"js": "text/javascript", "css": "text/css"}.get(name.rsplit(".", 1)[-1])
        if media is None or "/" in name or name.startswith("."):
            raise HTTPException(404, "not found")
        try:
            return Response(_static(name), media_type=media)
        except FileNotFoundError:
            raise HTTPException(404, "not found") from None

    @api.post("/v1/sessions", tags=["sessions"], status_code=201)
    async def create_session(request: Request) -> dict[str, Any]:
        """Upload an image (the raw file as the body); its SAM2 embedding is computed once."""
        settings: ServerSettings = request.app.state.settings
        models: Models = request.app.state.models
        body = await request.body()

        def work() -> Session:
            image = _decode(body, settings.max_pixels)
            embedding = None
            if models.predictor is not None:
                with models.sam_lock:
                    embedding = models.predictor.embed(image)
            return request.app.state.sessions.add(image, embedding)

        session = await _run(request, work)
        logger.debug("session created (%dx%d)", session.hw[1], session.hw[0])
        return {
            "session_id": session.id,
            "height": session.hw[0],
            "width": session.hw[1],
            "sam2": session.embedding is not None,
        }

    @api.delete("/v1/sessions/{session_id}", tags=["sessions"], status_code=204)
    def delete_session(request: Request, session_id: str) -> Response:
        """Forget a session and its image."""
        if not request.app.state.sessions.remove(session_id):
            raise HTTPException(404, "unknown or expired session")
        return Response(status_code=204)

    @api.post("/v1/sessions/{session_id}/predict", tags=["sessions"])
    async def predict(request: Request, session_id: str, req: PromptRequest) -> dict[str, Any]:
        """Points and/or a box (and a previous mask with ``refine``) to masks, best first.

        ``refine`` feeds candidate ``candidate`` (0: the best) of this session's previous answer
        back as the mask input, as SAM's interactive loop does.
        """
        models: Models = request.app.state.models
        predictor = models.need_sam()
        session = _session(request, session_id)
        _check_prompt(req, session.hw, request.app.state.settings)

        def work() -> dict[str, Any]:
            with session.lock, models.sam_lock:
                mask_input = None
                if req.refine:
                    last = session.last_logits
                    if last is None or req.candidate >= len(last):
                        got = 0 if last is None else len(last)
                        raise InputError(
                            f"refine needs candidate {req.candidate} of an earlier answer in "
                            f"this session; the last answer has {got}"
                        )
                    mask_input = last[req.candidate : req.candidate + 1]
                answer = predictor.predict(
                    points=np.asarray(req.points, dtype=np.float64) if req.points else None,
                    labels=np.asarray(req.labels or [1] * len(req.points)) if req.points else None,
                    boxes=np.asarray(req.box) if req.box is not None else None,
                    mask_input=mask_input,
                    multimask_output=req.multimask,
                    embedding=session.embedding,
                )
                order = np.argsort(-answer.scores[0], kind="stable")
                session.last_logits = answer.low_res_logits[0][order]
            masks = [
                encode_mask(answer.masks[0, i], req.format, answer.scores[0, i]) for i in order
            ]
            return {"masks": masks, "best": 0}

        return await _run(request, work)

    @api.post("/v1/sessions/{session_id}/boxes", tags=["sessions"])
    async def boxes(request: Request, session_id: str, req: BoxesRequest) -> dict[str, Any]:
        """Box to mask for many boxes at once (one mask per box, in order)."""
        models: Models = request.app.state.models
        predictor = models.need_sam()
        session = _session(request, session_id)
        settings: ServerSettings = request.app.state.settings
        if len(req.boxes) > settings.max_boxes:
            raise _unprocessable(f"at most {settings.max_boxes} boxes, got {len(req.boxes)}")
        for box in req.boxes:
            _check_box(box, session.hw)

        def work() -> dict[str, Any]:
            with models.sam_lock:
                answer = predictor.predict(
                    boxes=np.asarray(req.boxes), multimask_output=False, embedding=session.embedding
                )
            masks = [
                encode_mask(answer.masks[i, 0], req.format, answer.scores[i, 0])
                for i in range(len(req.boxes))
            ]
            return {"masks": masks}

        return await _run(request, work)

    @api.post("/v1/sessions/{session_id}/everything", tags=["sessions"])
    async def everything(
        request: Request, session_id: str, req: EverythingRequest
    ) -> dict[str, Any]:
        """Segment everything in the session's image (segments largest first)."""
        models: Models = request.app.state.models
        predictor = models.need_sam()
        session = _session(request, session_id)
        overrides = req.model_dump(exclude_none=True, exclude={"preset", "format"})

        def work() -> dict[str, Any]:
            from idseg.sam.everything import EverythingGenerator

            with models.sam_lock:
                gen = EverythingGenerator.from_preset(predictor, req.preset, **overrides)
                segments = gen.generate(session.image, embedding=session.embedding)
            items = []
            for seg in segments:
                item = encode_mask(seg.mask, req.format, seg.predicted_iou)
                item["stability_score"] = seg.stability_score
                items.append(item)
            return {"segments": items, "settings": segments.settings}

        return await _run(request, work)

    @api.post("/v1/documents", tags=["documents"])
    async def documents(request: Request, images: bool = False) -> dict[str, Any]:
        """The document pipeline on an uploaded photo (the raw file as the body).

        With ``?images=true`` each document also carries ``rectified_png`` (base64 PNG of the
        rectified document) and ``fields_png`` (its field label map, class indices).
        """
        models: Models = request.app.state.models
        if models.pipeline is None:
            raise HTTPException(409, "the document pipeline is not loaded")
        settings: ServerSettings = request.app.state.settings
        body = await request.body()

        def work() -> dict[str, Any]:
            image = _decode(body, settings.max_pixels)
            assert models.pipeline is not None
            result = models.pipeline.analyze(image)
            out = result.to_dict()
            if images:
                for doc, item in zip(result.documents, out["documents"], strict=True):
                    item["rectified_png"] = png_base64(doc.rectified)
                    item["fields_png"] = png_base64(doc.field_map)
            return out

        return await _run(request, work)


def _static(name: str) -> str:
    return resources.files("idseg.server").joinpath("static", name).read_text(encoding="utf-8")
