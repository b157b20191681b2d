"""Options of synthetic scenes: size, kinds, documents per scene, negatives, and effect knobs."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from idseg.documents.classes import KINDS
from idseg.errors import InputError

logger = logging.getLogger(__name__)

#: Most documents one scene may hold (the instance map is 8-bit).
MAX_DOCUMENTS = 20

#: Kinds drawn unless told otherwise. ``td1v`` (portrait-format ID-1 cards) came later and is
#: asked for by name (``kinds`` / ``--kinds``), so the datasets of earlier seeds stay identical.
DEFAULT_KINDS: tuple[str, ...] = ("td1", "td2", "td3", "a4", "letter")

_PROBABILITIES = (
    "negatives",
    "p_restyle",
    "p_real",
    "p_upright",
    "p_out_of_frame",
    "p_overlap",
    "p_doc_shadow",
    "p_clutter",
    "p_hand",
    "p_object",
    "p_lighting",
    "p_shadow",
    "p_glare",
    "p_defocus",
    "p_motion_blur",
    "p_noise",
    "p_jpeg",
)


@dataclass(frozen=True)
class SceneOptions:
    """How synthetic scenes are made. Every ``p_*`` is the probability of an effect.

    Attributes:
        size: Scene ``(height, width)`` in pixels.
        kinds: Document kinds to draw from (see :data:`idseg.documents.classes.KINDS`); default
            :data:`DEFAULT_KINDS`, every kind but ``td1v``.
        templates: Only these templates (names from
            :func:`~idseg.documents.synth.layouts.list_templates`); ``None``: all of them.
        exclude_templates: Never these templates (to hold designs out of a training set).
        docs_per_scene: Inclusive ``(min, max)`` number of documents in a non-negative scene
            (the dataset draws all of a scene's documents from one template).
        negatives: Share of scenes without any document (used by the dataset writer).
        scale: Range of the share of the frame a document spans in its larger direction.
        max_tilt_deg: Largest angle between the document's normal and the camera axis.
        fov_deg: Range of the camera's horizontal field of view.
        p_restyle: Per scene: its documents are drawn in variants of the template's style,
            one each (other hues, band shade, pattern, emblem; see
            :func:`~idseg.documents.synth.styles.vary_style`). Default 0: the templates as
            designed (earlier datasets of a seed stay identical).
        p_real: Per scene: its documents are drawn more like real cards (photographic
            portraits, card-wide background art, some values in red or blue; see
            :func:`~idseg.documents.synth.render.render_document`). Default 0, as for
            ``p_restyle``. Above 0, the US-style fronts of
            :data:`~idseg.documents.synth.layouts.REAL_CARD_TEMPLATES` join the pool of templates.
        p_upright: Document roughly upright (within 15 degrees) instead of at any angle.
        p_out_of_frame: Document pushed partly over one or two frame edges.
        p_overlap: With several documents: they may overlap (upper ones hide lower ones).
        p_doc_shadow: Documents cast a soft shadow on what lies beneath.
        p_clutter: The background gets clutter (pens, coins, notes, blank cards, phones...).
        clutter: Inclusive ``(min, max)`` number of clutter objects when there is clutter.
        p_hand: Per document: a thumb, fingers or a hand over one of its edges.
        p_object: Per document: an object lying across it.
        p_lighting: Uneven lighting and a colour cast.
        p_shadow: Soft cast shadows of unseen objects.
        p_glare: Per document: specular glare on its laminate.
        p_defocus: Defocus (disc) blur.
        p_motion_blur: Motion blur.
        p_noise: Sensor noise.
        p_jpeg: JPEG compression artefacts.
        jpeg_quality: Inclusive quality range of that JPEG round trip.

    Example:
        >>> SceneOptions(size=(240, 320), docs_per_scene=(1, 3)).validated().docs_per_scene
        (1, 3)
    """

    size: tuple[int, int] = (480, 640)
    kinds: tuple[str, ...] = DEFAULT_KINDS
    templates: tuple[str, ...] | None = None
    exclude_templates: tuple[str, ...] = ()
    docs_per_scene: tuple[int, int] = (1, 1)
    negatives: float = 0.05
    p_restyle: float = 0.0
    p_real: float = 0.0
    scale: tuple[float, float] = (0.15, 0.95)
    max_tilt_deg: float = 40.0
    fov_deg: tuple[float, float] = (40.0, 75.0)
    p_upright: float = 0.5
    p_out_of_frame: float = 0.2
    p_overlap: float = 0.3
    p_doc_shadow: float = 0.7
    p_clutter: float = 0.7
    clutter: tuple[int, int] = (1, 6)
    p_hand: float = 0.3
    p_object: float = 0.15
    p_lighting: float = 0.8
    p_shadow: float = 0.35
    p_glare: float = 0.3
    p_defocus: float = 0.15
    p_motion_blur: float = 0.15
    p_noise: float = 0.8
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)

    @classmethod
    def plain(cls, **changes: Any) -> SceneOptions:
        """Options with every effect, occluder and clutter off and documents fully in frame.

        Example:
            >>> SceneOptions.plain().p_hand, SceneOptions.plain(p_glare=1.0).p_glare
            (0.0, 1.0)
        """
        off = {name: 0.0 for name in _PROBABILITIES if name != "negatives"}
        return cls(**{**off, **changes})

    def validated(self) -> SceneOptions:
        """Return ``self`` after checking every value; raise :class:`InputError` otherwise.

        Example:
            >>> SceneOptions(p_glare=2.0).validated()
            Traceback (most recent call last):
            ...
            idseg.errors.InputError: p_glare must be a probability in [0, 1], got 2.0
        """
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a probability in [0, 1], got {value!r}")
        h, w = self.size
        if not (16 <= h <= 8192 and 16 <= w <= 8192):
            raise InputError(
                f"size must be (height, width) within 16..8192 pixels, got {self.size!r}"
            )
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise InputError(
                f"kinds must be a non-empty list of {', '.join(KINDS)}; got {list(self.kinds)!r}"
            )
        self.allowed_templates()
        lo, hi = self.docs_per_scene
        if not 1 <= lo <= hi <= MAX_DOCUMENTS:
            raise InputError(
                f"docs_per_scene must be (min, max) with 1 <= min <= max <= {MAX_DOCUMENTS}, got {self.docs_per_scene!r}"
            )
        _ordered("scale", self.scale, 0.02, 1.5)
        _ordered("fov_deg", self.fov_deg, 5.0, 120.0)
        _ordered("clutter", self.clutter, 0, 100)
        _ordered("jpeg_quality", self.jpeg_quality, 1, 100)
        if not 0.0 <= self.max_tilt_deg <= 70.0:
            raise InputError(f"max_tilt_deg must lie in [0, 70], got {self.max_tilt_deg!r}")
        return self

    def allowed_templates(self) -> dict[str, list[str]]:
        """The templates scenes may use, by kind (kinds left without any are dropped).

        With the default kinds, named templates of an opt-in kind (``td1v``) are allowed too.
        The US-style fronts of :data:`~idseg.documents.synth.layouts.REAL_CARD_TEMPLATES` are
        drawn only when ``p_real > 0`` or when named, so earlier datasets keep their bytes.

        Raises:
            InputError: An unknown template name, or no template left.

        Example:
            >>> SceneOptions(kinds=("td2",), exclude_templates=("td2_rose_rosette",)).allowed_templates()
            {'td2': ['td2_teal_guilloche']}
        """
        from idseg._text import did_you_mean
        from idseg.documents.synth.layouts import REAL_CARD_TEMPLATES, list_templates

        known = list_templates()
        for name in (*(self.templates or ()), *self.exclude_templates):
            if name not in known:
                raise InputError(
                    f"unknown template {name!r}{did_you_mean(name, known)} (known: {', '.join(known)})"
                )
        kinds = self.kinds
        if self.templates is not None and kinds == DEFAULT_KINDS:
            # Naming a template of an opt-in kind (td1v) is asking for it.
            from idseg.documents.synth.layouts import get_template

            named = [get_template(n).kind for n in self.templates]
            kinds = kinds + tuple(k for k in KINDS if k in named and k not in kinds)
        # Real-card designs join the pool of unnamed templates only for real-looking scenes.
        real_only = () if self.p_real > 0.0 or self.templates is not None else REAL_CARD_TEMPLATES
        out: dict[str, list[str]] = {}
        for kind in kinds:
            names = [
                n
                for n in list_templates(kind)
                if (self.templates is None or n in self.templates)
                and n not in self.exclude_templates
                and n not in real_only
            ]
            if names:
                out[kind] = names
        if not out:
            hint = " (the US-style fronts need p_real > 0 or their names)" if real_only else ""
            raise InputError(
                f"no template left: kinds {list(self.kinds)}, templates {self.templates}, "
                f"excluded {list(self.exclude_templates)}{hint}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists).

        Example:
            >>> SceneOptions().to_dict()["size"]
            [480, 640]
        """
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _ordered(name: str, pair: tuple[float, float], low: float, high: float) -> None:
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise InputError(
            f"{name} must be (min, max) with {low} <= min <= max <= {high}, got {pair!r}"
        )
