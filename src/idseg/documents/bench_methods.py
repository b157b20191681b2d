"""The document localisers the benchmark compares, behind one calling convention.

A method is a factory that returns a :data:`Localizer`: a callable taking an ``H x W x 3`` uint8
RGB photo and returning ``4 x 2`` float quads in continuous image coordinates (pixel ``(c, r)``
covers ``[c, c + 1) x [r, r + 1)``), one per document found. The factory does the slow set-up
(loading a model) so that the benchmark times the calls only.

* ``idseg``: idseg's embedded document pipeline (:class:`idseg.documents.pipeline.DocumentPipeline`).
* ``opencv``: the classical edges-and-contours baseline, :func:`~idseg.documents.baselines.localize_opencv`.
* ``microwink``: the `microwink <https://github.com/cospectrum/microwink>`_ card instance segmenter
  (ONNX); a quad is fitted to each predicted mask with :func:`idseg.quad.fit_quad`. The wheel
  does not ship its weights: :func:`~idseg.documents.microwink_weights.microwink_model_path` reads
  them from ``IDSEG_MICROWINK_MODEL`` when set, else takes them once (13 MB, SHA-256 pinned) from
  microwink's source distribution on the package index into the checkpoint cache.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from idseg._deps import require
from idseg._text import did_you_mean
from idseg.documents.microwink_weights import (
    MICROWINK_MODEL_ENV,
    MICROWINK_MODEL_SHA256,
    microwink_model_path,
)
from idseg.errors import InputError

logger = logging.getLogger(__name__)

#: A localiser: RGB uint8 photo in, quads (``4 x 2``, continuous image coordinates) out.
Localizer = Callable[[np.ndarray], list[np.ndarray]]

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "MICROWINK_MODEL_ENV",
    "MICROWINK_MODEL_SHA256",
    "Localizer",
    "idseg_localizer",
    "make_localizer",
    "masks_to_quads",
    "microwink_localizer",
    "opencv_localizer",
    "resolve_method_names",
]


def opencv_localizer() -> Localizer:
    """The classical OpenCV baseline with its default settings.

    Example:
        >>> img = np.full((120, 160, 3), 40, np.uint8); img[30:90, 40:130] = 230
        >>> len(opencv_localizer()(img))
        1
    """
    from idseg.documents.baselines import localize_opencv

    return localize_opencv


def idseg_localizer(localizer: str | os.PathLike[str] | None = None) -> Localizer:
    """The idseg document pipeline (model loaded once, here).

    Args:
        localizer: Another localiser checkpoint (a run's ``last.pt``); ``None``: the bundled one.

    Raises:
        ImportError: The pipeline module is not part of this installation.
        CheckpointError: The checkpoint cannot be loaded or is no localiser.

    Example:
        >>> quads = idseg_localizer()(photo)  # doctest: +SKIP
    """
    from idseg.documents.pipeline import DocumentPipeline

    pipe = DocumentPipeline(localizer=None if localizer is None else Path(localizer))

    def localize(image: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(doc.quad, dtype=np.float64) for doc in pipe.localize(image)]

    return localize


def _grow(quad: np.ndarray, margin: float) -> np.ndarray:
    """Move every side of a convex quad outwards by ``margin``; corners where the sides meet."""
    edges = np.roll(quad, -1, axis=0) - quad
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    if np.sum(quad[:, 0] * np.roll(quad[:, 1], -1) - quad[:, 1] * np.roll(quad[:, 0], -1)) < 0:
        normals = -normals  # counter-clockwise in (x, y): the right-hand normal points inwards
    offsets = np.sum(normals * quad, axis=1) + margin
    out = quad.copy()
    for k in range(4):  # corner k joins side k - 1 and side k
        lines = normals[[k - 1, k]]
        if abs(np.linalg.det(lines)) > 1e-9:
            out[k] = np.linalg.solve(lines, offsets[[k - 1, k]])
    return out


def masks_to_quads(masks: Sequence[np.ndarray], threshold: float = 0.5) -> list[np.ndarray]:
    """Fit one quad to each soft mask (``H x W`` in ``[0, 1]``); empty masks give none.

    :func:`~idseg.quad.fit_quad` runs through the centres of the mask's outer pixels; the quads
    returned here are in continuous image coordinates and reach the outer edge of those pixels
    (half a pixel further out), so a mask filling a rectangle of pixels gives that rectangle.

    Example:
        >>> m = np.zeros((50, 60)); m[10:31, 5:46] = 0.9
        >>> masks_to_quads([m, np.zeros((50, 60))])[0].round(3).tolist()
        [[5.0, 10.0], [46.0, 10.0], [46.0, 31.0], [5.0, 31.0]]
    """
    from idseg.quad import fit_quad

    quads = []
    for mask in masks:
        quad = fit_quad(np.asarray(mask) > threshold)
        if quad is not None:
            quads.append(_grow(quad.astype(np.float64) + 0.5, 0.5))
    return quads


def _load_microwink(path: Path) -> Any:
    """Microwink's ``SegModel`` on a :func:`_quiet_session` of its weights."""
    from microwink import SegModel

    return SegModel.from_session(_quiet_session(path))


def _quiet_session(path: Path) -> Any:
    """An ONNX Runtime session whose idle threads sleep instead of spinning.

    By default ONNX Runtime's worker threads spin for a while after each run, taking CPU from
    whatever runs next in the same process (here: the other methods being timed). Spinning only
    shortens the wake-up of back-to-back runs; turning it off keeps the comparison fair.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def microwink_localizer(
    model_path: str | os.PathLike[str] | None = None,
    confidence: float = 0.6,
    mask_threshold: float = 0.5,
) -> Localizer:
    """The microwink card segmenter, its masks turned into quads.

    Args:
        model_path: microwink's ``seg_model.onnx``; default ``$IDSEG_MICROWINK_MODEL``, else the
            pinned file from the checkpoint cache (taken from microwink's sdist on first use).
        confidence: Least detection score kept (microwink's own default).
        mask_threshold: Mask probability above which a pixel belongs to the card.

    Raises:
        MissingExtraError: The ``microwink`` package is not installed.
        InputError: ``model_path`` is not a file.
        ConfigError: ``$IDSEG_MICROWINK_MODEL`` is set but is not a file.
        DownloadError: The weights are not cached and cannot be fetched (offline included).

    Example:
        >>> quads = microwink_localizer()(photo)  # doctest: +SKIP
    """
    Threshold = require("microwink", extra="bench").Threshold  # noqa: N806 (a class)
    from PIL import Image

    model = _load_microwink(microwink_model_path(model_path))
    threshold = Threshold(confidence=confidence)

    def localize(image: np.ndarray) -> list[np.ndarray]:
        cards = model.apply(Image.fromarray(np.ascontiguousarray(image)), threshold)
        return masks_to_quads([card.mask for card in cards], mask_threshold)

    return localize


#: Method name -> factory, in the benchmark's default order.
METHODS: dict[str, Callable[[], Localizer]] = {
    "idseg": idseg_localizer,
    "opencv": opencv_localizer,
    "microwink": microwink_localizer,
}
DEFAULT_METHODS: tuple[str, ...] = tuple(METHODS)


def resolve_method_names(names: str | Sequence[str]) -> list[str]:
    """Check method names (a list or ``"a,b"``), dropping repeats and keeping their order.

    Raises:
        InputError: An unknown or empty name, or no name at all.

    Example:
        >>> resolve_method_names("opencv, microwink,opencv")
        ['opencv', 'microwink']
    """
    raw = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    for name in (n.strip() for n in raw):
        if name not in METHODS:
            raise InputError(
                f"unknown method {name!r}{did_you_mean(name, METHODS)} "
                f"(expected some of {', '.join(METHODS)})"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise InputError(f"expected at least one method of {', '.join(METHODS)}, got none")
    return out


def make_localizer(name: str) -> Localizer:
    """Build the named method's localiser (see :data:`METHODS`).

    Raises:
        InputError: An unknown name.
        IdsegError, ImportError: The method cannot run here (missing package, weights, model).

    Example:
        >>> make_localizer("opencv").__name__
        'localize_opencv'
    """
    resolve_method_names([name])
    logger.debug("building localiser %s", name)
    return METHODS[name]()
