"""The high-level entry point: one object that loads SAM2 once and segments many images.

:class:`Segmenter` is what the CLI, the HTTP service and user code call. It keeps the original
SAM2 ID Segmenter wrapper's call, :meth:`Segmenter.infer`, which returns ``(crop, mask)`` pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from idseg.sam.results import Segments, warn_absolute_pad
from idseg.sam.settings import EverythingSettings, preset

if TYPE_CHECKING:
    from idseg.models.sam2 import ResolvedModel
    from idseg.sam.predictor import SAM2Predictor

logger = logging.getLogger(__name__)


class Segmenter:
    """SAM2 loaded once; segment-everything and prompts on any number of images.

    Args:
        checkpoint: Local path, registry name (``sam2.1_hiera_tiny``) or https URL. ``None`` uses
            ``SAM2_CHECKPOINT_URL`` (verified against ``SAM2_CHECKPOINT_SHA256``) when set.
        config: SAM2 config name or YAML path; inferred from the checkpoint when omitted.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        preset: Segment-everything preset (``default``, ``dense``, ``documents``).
        settings: Full settings; overrides ``preset`` when given.
        offline: Never open a socket (also ``IDSEG_OFFLINE=1``).
        **overrides: Individual segment-everything parameters (``points_per_side=16`` ...).

    Example:
        >>> seg = Segmenter("sam2.1_hiera_tiny", preset="documents")  # doctest: +SKIP
        >>> segments = seg.segment("card.jpg")  # doctest: +SKIP
        >>> crop, mask = seg.infer("card.jpg", pad_percent=0.05)[0]  # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        config: str | Path | None = None,
        device: str = "auto",
        preset: str = "default",
        settings: EverythingSettings | None = None,
        offline: bool | None = None,
        **overrides: Any,
    ) -> None:
        from idseg.models.sam2 import load_resolved, resolve_model
        from idseg.sam.predictor import SAM2Predictor

        self.resolved: ResolvedModel = resolve_model(checkpoint, config, offline=offline)
        self.predictor: SAM2Predictor = SAM2Predictor(load_resolved(self.resolved, device))
        self.settings = _settings(preset, settings, overrides)

    @classmethod
    def from_predictor(
        cls, predictor: SAM2Predictor, settings: EverythingSettings | None = None
    ) -> Segmenter:
        """Wrap an existing predictor (no loading).

        Args:
            predictor: A predictor on an already loaded model.
            settings: Segment-everything settings; the ``default`` preset when ``None``.

        Returns:
            A segmenter whose ``resolved`` is ``None`` (its model's origin is unknown).

        Example:
            >>> from idseg import SAM2Predictor
            >>> predictor = SAM2Predictor.from_pretrained("sam2.1_hiera_tiny")  # doctest: +SKIP
            >>> seg = Segmenter.from_predictor(predictor, preset("documents"))  # doctest: +SKIP
        """
        obj = cls.__new__(cls)
        obj.resolved = None  # type: ignore[assignment]
        obj.predictor = predictor
        obj.settings = settings or EverythingSettings()
        return obj

    def segment(self, image: Any, settings: EverythingSettings | None = None) -> Segments:
        """Segment everything in ``image`` (array, path, bytes or PIL image); largest first.

        Args:
            image: HWC uint8 RGB array, file path, encoded bytes or PIL image.
            settings: Settings for this call only; the segmenter's own when ``None``.

        Returns:
            The segments of the image, largest first.

        Raises:
            ImageError: The image cannot be read, or has too many pixels.
            InputError: The array is not an image.

        Example:
            >>> segments = seg.segment("card.jpg", preset("dense"))  # doctest: +SKIP
            >>> segments[0].bbox_xyxy, segments[0].area  # doctest: +SKIP
        """
        from idseg.sam.everything import EverythingGenerator

        generator = EverythingGenerator(self.predictor, settings or self.settings)
        return generator.generate(image)

    def infer(
        self,
        image: Any,
        pad_percent: float = 0.05,
        pad: int | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The original wrapper's call: ``(crop, mask)`` pairs sorted by area, largest first.

        Args:
            image: The image (array, path, bytes or PIL image).
            pad_percent: Padding around each box, as a fraction of its width and height.
            pad: Deprecated absolute padding in pixels (a ``DeprecationWarning`` is emitted).

        Returns:
            One ``(crop, mask)`` pair per segment: the RGB crop and its mask as uint8 0/255.

        Example:
            >>> crop, mask = seg.infer("card.jpg", pad_percent=0.05)[0]  # doctest: +SKIP
        """
        from idseg.io.images import load_image

        rgb = load_image(image)
        segments = self.segment(rgb)
        if pad is None:
            return segments.crops(rgb, pad_percent)
        pixels = warn_absolute_pad(pad)
        return [(s.crop(rgb, 0.0, pixels), s.crop_mask(0.0, pixels)) for s in segments]


def _settings(
    name: str, settings: EverythingSettings | None, overrides: dict[str, Any]
) -> EverythingSettings:
    if settings is not None:
        return settings.replace(**overrides) if overrides else settings
    return preset(name, **overrides)
