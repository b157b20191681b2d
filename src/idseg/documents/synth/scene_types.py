"""What a composed scene is: the image, its class mask, and per document its quad and fields.

See :func:`idseg.documents.synth.scene.compose_scene`, which makes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class SceneField:
    """A field of a document as it appears in the scene.

    Attributes:
        cls: Field class (one of :data:`idseg.documents.classes.FIELD_CLASSES`).
        name: Field name from the renderer (``"mrz"``, ``"surname"``...).
        polygon: ``K x 2`` mapped polygon in scene pixel centres (not clipped to the frame).
        text: The field's text, if any.
        id: Value of this field in :attr:`Scene.field_map`.
        visible_pixels: Pixels of the field visible in the scene.
    """

    cls: str
    name: str
    polygon: np.ndarray
    text: str | None
    id: int
    visible_pixels: int = 0


@dataclass
class SceneInstance:
    """One document in the scene.

    Attributes:
        kind: Document kind (``td1``...).
        template: Template name from the renderer.
        quad: ``4 x 2`` corners, clockwise from the document's own top-left (may leave the frame).
        homography: ``3 x 3`` map from flat-document pixel centres to scene pixel centres.
        fields: The document's fields.
        visible_pixels: Pixels of the scene showing this document (fields included).
        visible_fraction: ``visible_pixels`` over the quad's area (1 when whole and unoccluded).
        occluded: Something (an occluder or an upper document) hides part of it in the frame.
        truncated: Part of it lies outside the frame.
    """

    kind: str
    template: str
    quad: np.ndarray
    homography: np.ndarray
    fields: list[SceneField] = field(default_factory=list)
    visible_pixels: int = 0
    visible_fraction: float = 0.0
    occluded: bool = False
    truncated: bool = False


@dataclass
class Scene:
    """A composed photo and its ground truth.

    Attributes:
        image: ``H x W x 3`` uint8 RGB.
        class_mask: ``H x W`` uint8 class indices (:data:`~idseg.documents.classes.CLASS_NAMES`).
        instances: The documents, bottom to top.
        occluder_mask: ``H x W`` bool, pixels covered by occluders (fingers, hands, objects).
        instance_map: ``H x W`` uint8, ``k + 1`` where document ``k`` is visible, else 0.
        field_map: ``H x W`` uint16, a field's :attr:`SceneField.id` where it is visible, else 0.
    """

    image: np.ndarray
    class_mask: np.ndarray
    instances: list[SceneInstance]
    occluder_mask: np.ndarray
    instance_map: np.ndarray
    field_map: np.ndarray

    @property
    def homographies(self) -> list[np.ndarray]:
        """Each document's flat-to-scene homography, bottom to top."""
        return [inst.homography for inst in self.instances]

    def document_mask(self, k: int) -> np.ndarray:
        """Visible pixels of document ``k`` (its fields included)."""
        return self.instance_map == k + 1

    def field_mask(self, fld: SceneField) -> np.ndarray:
        """Visible pixels of one field."""
        return self.field_map == fld.id
