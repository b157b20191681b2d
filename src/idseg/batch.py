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
    from idseg.segmenter import Segmenter

logger = logging.getLogger(__name__)

#: ``progress(total)`` returns ``advance(done=False)``, called once per file and once at the end.
ProgressFactory = Callable[[int], Callable[..., None]]


def output_names(files: list[Path]) -> list[str]:
    """A unique, filesystem-safe folder name per input file (stem, then ``-2``, ``-3`` ...).

    Example:
        >>> output_names([Path("a/card.jpg"), Path("b/card.png"), Path("x.png")])
        ['card', 'card-2', 'x']
    """
    seen: dict[str, int] = {}
    names = []
    for path in files:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem) or "image"
        count = seen.get(stem, 0) + 1
        seen[stem] = count
        names.append(stem if count == 1 else f"{stem}-{count}")
    return names


@dataclass
class BatchRunner:
    """Segment many images with one loaded model and write every requested output."""

    segmenter: Segmenter
    export: ExportOptions
    config: IdsegConfig | None = None

    @classmethod
    def from_config(cls, cfg: IdsegConfig) -> BatchRunner:
        """Load the model named by ``cfg.model`` and take settings and outputs from ``cfg``."""
        from idseg.segmenter import Segmenter

        segmenter = Segmenter(
            checkpoint=cfg.model.checkpoint,
            config=cfg.model.config,
            device=cfg.model.device,
            settings=cfg.everything_settings(),
            offline=cfg.model.offline,
        )
        export = ExportOptions(
            formats=list(cfg.output.formats),
            overlay=cfg.output.overlay,
            crops=cfg.output.crops,
            pad_percent=cfg.output.pad_percent,
            seed=cfg.output.seed,
        )
        return cls(segmenter, export, cfg)

    def run(
        self, paths: list[Path], out: Path, progress: ProgressFactory | None = None
    ) -> dict[str, Any]:
        """Process every image under ``paths``; return the summary (also written to summary.json)."""
        from idseg.formats import merge_coco, write_json
        from idseg.io.images import iter_image_files

        start = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        self._write_resolved(out)
        files = iter_image_files(paths)
        advance = progress(len(files)) if progress else None
        results, cocos = [], []
        for path, name in zip(files, output_names(files), strict=True):
            item, coco = self._one(path, out / name, len(cocos) + 1)
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
            "processed": len(results) - failed,
            "failed": failed,
            "segments": sum(r.get("segments", 0) for r in results),
            "seconds": time.perf_counter() - start,
            "out": str(out),
            "files": results,
        }
        write_json(summary, out / "summary.json")
        return summary

    def _one(self, path: Path, folder: Path, image_id: int) -> tuple[dict[str, Any], Any]:
        from idseg.io.images import load_image

        item: dict[str, Any] = {"path": str(path), "output": str(folder)}
        try:
            image = load_image(path)
            segments = self.segmenter.segment(image)
            written = export_segments(
                segments, image, folder, self.export, file_name=path.name, image_id=image_id
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
            status="ok", segments=written["segments"], height=image.shape[0], width=image.shape[1]
        )
        return item, written["coco"]

    def _write_resolved(self, out: Path) -> None:
        if self.config is None:
            return
        from idseg.config import write_resolved_config

        resolved = self.segmenter.resolved
        extra = {"model": resolved.to_dict() if resolved else None}
        write_resolved_config(self.config, out, extra=extra)
