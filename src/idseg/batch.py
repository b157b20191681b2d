"""Batch segmentation of files and folders: the library behind ``idseg segment``.

A bad file never stops the batch: its error is recorded (type and message), the run carries on, and
the summary counts it. Outputs are written atomically, one sub-folder per image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idseg.errors import IdsegError
from idseg.export import ExportOptions, export_segments

if TYPE_CHECKING:
    from idseg.config import IdsegConfig
    from idseg.models.sam2 import ResolvedModel
    from idseg.segmenter import Segmenter

logger = logging.getLogger(__name__)

#: ``progress(total)`` returns ``advance(done=False)``, called once per file and once at the end.
ProgressFactory = Callable[[int], Callable[..., None]]


def output_names(files: list[Path]) -> list[str]:
    """A unique, filesystem-safe folder name per input file (stem, then ``-2``, ``-3`` ...).

    Example:
        >>> output_names([Path("a/card.jpg"), Path("b/card.png"), Path("x.png")])
        ['card', 'card-2', 'x']
        >>> output_names([Path("a/card.jpg"), Path("b/card.png"), Path("card-2.jpg")])
        ['card', 'card-2', 'card-2-2']
    """
    taken: set[str] = set()  # case-folded: Card and card collide on some file systems
    names = []
    for path in files:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem) or "image"
        name, count = stem, 1
        while name.casefold() in taken:
            count += 1
            name = f"{stem}-{count}"
        taken.add(name.casefold())
        names.append(name)
    return names


@dataclass
class BatchRunner:
    """Segment many images with one loaded model and write every requested output.

    Attributes:
        segmenter: The loaded model and its segment-everything settings.
        export: What to write for each image.
        config: The configuration the runner came from; written to ``resolved_config.json``
            when given.

    Example:
        >>> runner = BatchRunner.from_config(load_config("idseg.toml"))  # doctest: +SKIP
        >>> runner.run([Path("scans/")], Path("out"))["failed"]  # doctest: +SKIP
        0
    """

    segmenter: Segmenter
    export: ExportOptions
    config: IdsegConfig | None = None

    @classmethod
    def from_config(cls, cfg: IdsegConfig) -> BatchRunner:
        """Load the model named by ``cfg.model`` and take settings and outputs from ``cfg``.

        Settings, output options and ``IDSEG_MAX_PIXELS`` are checked before the model loads,
        so a bad value fails at once.

        Args:
            cfg: The merged configuration (see :func:`idseg.config.load_config`).

        Returns:
            A runner holding the loaded model, the export options and ``cfg``.

        Raises:
            ConfigError: A bad setting or ``IDSEG_MAX_PIXELS``, or no checkpoint given.
            InputError: The device is unknown or not available.
            CheckpointError: The checkpoint cannot be found or loaded.
            DownloadError: A named or URL checkpoint cannot be downloaded.

        Example:
            >>> cfg = load_config(checkpoint="sam2.1_hiera_tiny", overlay=True)  # doctest: +SKIP
            >>> runner = BatchRunner.from_config(cfg)  # doctest: +SKIP
        """
        from idseg.io.images import max_pixels_from_env
        from idseg.segmenter import Segmenter

        max_pixels_from_env()
        settings = cfg.everything_settings()
        export = ExportOptions(
            formats=list(cfg.output.formats),
            overlay=cfg.output.overlay,
            crops=cfg.output.crops,
            pad_percent=cfg.output.pad_percent,
            seed=cfg.output.seed,
            output_mode=settings.output_mode,
        )
        segmenter = Segmenter(
            checkpoint=cfg.model.checkpoint,
            config=cfg.model.config,
            device=cfg.model.device,
            settings=settings,
            offline=cfg.model.offline,
        )
        return cls(segmenter, export, cfg)

    def run(
        self, paths: list[Path], out: Path, progress: ProgressFactory | None = None
    ) -> dict[str, Any]:
        """Process every image under ``paths`` into ``out``; carry on past bad files.

        Args:
            paths: Image files and folders (walked recursively; ``out`` itself is never read).
            out: The output folder: one sub-folder per image, plus ``coco.json``,
                ``summary.json`` and ``resolved_config.json``.
            progress: Optional progress-bar factory.

        Returns:
            The summary (also written to ``summary.json``): counts ``ok``, ``failed``, ``total``,
            ``segments``, the non-image files ``skipped`` in the folders, and one entry per file.

        Raises:
            InputError: ``out`` is a file, or no image was found.

        Example:
            >>> summary = runner.run([Path("scans/")], Path("out"))  # doctest: +SKIP
            >>> summary["ok"], summary["failed"]  # doctest: +SKIP
            (12, 1)
        """
        from idseg.formats import merge_coco, write_json
        from idseg.io.files import images_to_process

        start = time.perf_counter()
        found = images_to_process(paths, out)
        self._write_resolved(out)
        advance = progress(len(found.images)) if progress else None
        results: list[dict[str, Any]] = []
        cocos: list[dict[str, Any]] = []
        for path, name in zip(found.images, output_names(found.images), strict=True):
            item, coco = self._one(path, out / name, found.relative_name(path), len(cocos) + 1)
            results.append(item)
            if coco is not None:
                cocos.append(coco)
            if advance:
                advance()
        if advance:
            advance(done=True)
        if cocos:
            write_json(merge_coco(cocos), out / "coco.json")
        failed = sum(1 for r in results if r["status"] != "ok")
        summary = {
            "ok": len(results) - failed,
            "failed": failed,
            "total": len(results),
            "skipped": [str(p) for p in found.skipped],
            "segments": sum(r.get("segments", 0) for r in results),
            "seconds": time.perf_counter() - start,
            "out": str(out),
            "files": results,
        }
        write_json(summary, out / "summary.json")
        return summary

    def _one(
        self, path: Path, folder: Path, file_name: str, image_id: int
    ) -> tuple[dict[str, Any], Any]:
        from idseg.io.images import load_image

        item: dict[str, Any] = {"path": str(path), "output": str(folder)}
        try:
            image = load_image(path)
            segments = self.segmenter.segment(image)
            written = export_segments(
                segments, image, folder, self.export, file_name=file_name, image_id=image_id
            )
        except IdsegError as exc:
            logger.warning("an image failed: %s", type(exc).__name__)
            logger.debug("failed image %s: %s", path, exc)
            item.update(status="error", error=str(exc), error_type=type(exc).__name__)
            return item, None
        except (OSError, MemoryError, RuntimeError) as exc:
            logger.warning("an image failed unexpectedly: %s", type(exc).__name__)
            logger.debug("failed image %s", path, exc_info=True)
            item.update(status="error", error=str(exc), error_type=type(exc).__name__)
            return item, None
        item.update(
            status="ok",
            segments=written["segments"],
            empty_dropped=written["empty_dropped"],
            height=image.shape[0],
            width=image.shape[1],
        )
        return item, written["coco"]

    def _write_resolved(self, out: Path) -> None:
        if self.config is None:
            return
        from idseg.config import write_resolved_config

        record = model_record(self.segmenter.resolved)
        write_resolved_config(self.config, out, extra={"model": record})


def model_record(resolved: ResolvedModel | None) -> dict[str, Any] | None:
    """Where the model came from: absolute checkpoint and config paths, and the SHA-256.

    Args:
        resolved: The model's origin, or ``None`` (a segmenter built from a predictor).

    Returns:
        :meth:`ResolvedModel.to_dict` with absolute paths and, when there is a checkpoint, its
        ``sha256`` (the file is read); ``None`` when ``resolved`` is ``None``.

    Example:
        >>> from idseg.models.sam2 import ResolvedModel
        >>> model_record(ResolvedModel(None, Path("/configs/t.yaml"), "t"))
        {'checkpoint': None, 'config': '/configs/t.yaml', 'config_name': 't'}
    """
    from idseg.models.hashes import sha256_file

    if resolved is None:
        return None
    record: dict[str, Any] = resolved.to_dict()
    if resolved.checkpoint is not None:
        record["checkpoint"] = str(resolved.checkpoint.resolve())
        record["sha256"] = sha256_file(resolved.checkpoint)
    record["config"] = str(resolved.config.resolve())
    return record
