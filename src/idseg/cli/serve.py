"""``idseg serve``: the HTTP service and the annotation page (FastAPI on uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from idseg.cli._common import say, user_errors


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
    checkpoint: str | None = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="SAM2 checkpoint (path, registry name or URL) for prompts and segment-everything; "
        "without one only the document pipeline is served.",
    ),
    model_config: str | None = typer.Option(
        None, "--model-config", help="SAM2 config name or YAML (default: from the checkpoint)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Settings file (TOML, YAML or JSON): model and device."
    ),
    device: str | None = typer.Option(None, help="auto, cpu, cuda or mps."),
    no_documents: bool = typer.Option(
        False, "--no-documents", help="Do not load the document pipeline."
    ),
    max_upload_mb: float = typer.Option(25.0, min=0.001, help="Largest request body (413)."),
    max_pixels: int = typer.Option(40_000_000, min=1, help="Largest image, width x height (413)."),
    timeout: float = typer.Option(120.0, min=0.1, help="Time limit of one model call, s (504)."),
    workers: int = typer.Option(1, min=1, help="Model calls at once."),
    queue: int = typer.Option(8, min=0, help="Calls waiting; beyond, 503 with Retry-After."),
    max_sessions: int = typer.Option(16, min=1, help="Images kept in memory (LRU)."),
    session_ttl: float = typer.Option(1800.0, min=1.0, help="Seconds an unused session lives."),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Allow this origin by CORS (repeatable; default none)."
    ),
    offline: bool = typer.Option(False, "--offline", help="Never open a network connection."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the annotation page (/) from one process.

    Models are loaded once at start-up. Uploaded images stay in memory and are never logged.
    """
    from idseg._deps import require

    with user_errors():
        for module, package in (("fastapi", None), ("uvicorn", None)):
            require(module, package, extra="server")
        import uvicorn

        from idseg.config import load_config
        from idseg.server.app import create_app
        from idseg.server.settings import ServerSettings

        cfg = load_config(
            config,
            checkpoint=checkpoint,
            config=model_config,
            device=device,
            offline=offline or None,
        )
        settings = ServerSettings(
            max_upload_bytes=int(max_upload_mb * 2**20),
            max_pixels=max_pixels,
            request_timeout_s=timeout,
            workers=workers,
            max_queue=queue,
            max_sessions=max_sessions,
            session_ttl_s=session_ttl,
            cors_origins=tuple(cors_origin),
        )
        m = cfg.model
        predictor = None
        if m.checkpoint:
            from idseg.sam.predictor import SAM2Predictor

            predictor = SAM2Predictor.from_pretrained(
                m.checkpoint, m.config, device=m.device, offline=m.offline
            )
        pipeline = None
        if not no_documents:
            from idseg.documents.pipeline import DocumentPipeline
            from idseg.models.sam2 import select_device

            pipeline = DocumentPipeline(device=str(select_device(m.device)))
        app = create_app(predictor, pipeline, settings)
    say(f"idseg serving on http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
