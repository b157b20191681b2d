"""Zone geometry of synthetic documents in millimetres, after ICAO 9303 (TD1, TD2, TD3) and pages.

Coordinates are millimetres from the document's top-left corner, x to the right, y down. ID
formats are landscape: portrait on the left, text fields to its right, the machine-readable zone
(MRZ) along the bottom edge at the standard's nominal position, its characters at a 2.54 mm pitch
(10 characters per inch, OCR-B size 1). Pages carry a letterhead, paragraphs, an optional table,
a signature and an optional Code 128 barcode, and no MRZ.

A text zone holds its label (printed background) above its value (the field). Zones of one
``group`` keep their relative positions when a template is jittered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from idseg.documents.classes import KINDS

logger = logging.getLogger(__name__)

#: Cap height of labels in mm; a label line takes ``LABEL_BOX`` times that.
LABEL_MM = 1.2
LABEL_BOX = 1.5
#: A value line box is ``VALUE_BOX`` times its cap height (room for descenders and accents).
VALUE_BOX = 1.45
#: Line pitch of multi-line text as a multiple of the cap height.
LINE_PITCH = 1.8
#: MRZ character pitch (mm) and character height (mm), OCR-B size 1.
MRZ_PITCH_MM = 2.54
MRZ_CHAR_MM = 2.35


@dataclass(frozen=True)
class Zone:
    """A rectangular area reserved for one field, in millimetres.

    Attributes:
        name: Field name, unique in a template (``surname``, ``mrz``, ``paragraph_2``...).
        cls: Field class: ``text``, ``portrait``, ``mrz``, ``signature`` or ``barcode``.
        x: Left edge.
        y: Top edge.
        w: Width.
        h: Height (label included).
        label: Key of :data:`idseg.documents.synth.styles.LABELS` printed above the content.
        size: Cap height of the value text (text, mrz) in mm.
        lines: Number of text lines (multi-line text such as paragraphs).
        content: What is drawn: an identity attribute, ``paragraph``, ``table``, ``pdf417``...
        group: Zones of one group move together when the template is jittered.
    """

    name: str
    cls: str
    x: float
    y: float
    w: float
    h: float
    label: str | None = None
    size: float = 2.4
    lines: int = 1
    content: str = ""
    group: str = ""

    def shifted(self, dx: float, dy: float) -> Zone:
        """This zone moved by ``(dx, dy)`` mm.

        Example:
            >>> Zone("a", "text", 1.0, 2.0, 3.0, 4.0).shifted(0.5, -1.0).y
            1.0
        """
        return replace(self, x=self.x + dx, y=self.y + dy)

    @property
    def label_h(self) -> float:
        """Height taken by the label line (0 without a label).

        Example:
            >>> Zone("a", "text", 0, 0, 9, 9, label="surname").label_h
            1.8
        """
        return round(LABEL_MM * LABEL_BOX, 6) if self.label else 0.0


@dataclass(frozen=True)
class Deco:
    """A decorative element (document background, never a field), in millimetres.

    ``kind`` is ``band`` (header band), ``title``, ``logo``, ``hologram``, ``ghost`` (faded
    portrait copy) or ``rule`` (a thin line).
    """

    kind: str
    x: float
    y: float
    w: float
    h: float
    group: str = ""

    def shifted(self, dx: float, dy: float) -> Deco:
        """This element moved by ``(dx, dy)`` mm.

        Example:
            >>> Deco("logo", 1.0, 1.0, 5.0, 5.0).shifted(1.0, 0.0).x
            2.0
        """
        return replace(self, x=self.x + dx, y=self.y + dy)


@dataclass(frozen=True)
class MrzSpec:
    """Nominal MRZ position of a kind.

    Attributes:
        left: Left edge of the first character, mm from the document's left edge.
        centres: Centre lines of the MRZ lines, mm from the document's bottom edge (top line first).
        zone_h: Height of the machine-readable zone, mm.
    """

    left: float
    centres: tuple[float, ...]
    zone_h: float


#: Nominal MRZ geometry per ID kind (line pitch 4.23 mm on TD1, 6.35 mm on TD2/TD3).
MRZ_SPECS: dict[str, MrzSpec] = {
    "td1": MrzSpec(4.7, (14.2, 9.97, 5.74), 17.78),
    "td2": MrzSpec(6.0, (15.2, 8.85), 21.0),
    "td3": MrzSpec(6.0, (16.95, 10.6), 23.2),
}


def text_h(size: float, label: bool = True, lines: int = 1) -> float:
    """Height of a text zone with a value of cap height ``size`` mm.

    Example:
        >>> round(text_h(2.4), 2)
        5.28
    """
    value = size * VALUE_BOX + (lines - 1) * size * LINE_PITCH
    return (LABEL_MM * LABEL_BOX if label else 0.0) + value


def text(
    name: str,
    x: float,
    y: float,
    w: float,
    size: float,
    *,
    label: str | None = "",
    lines: int = 1,
    content: str = "",
    group: str = "fields",
) -> Zone:
    """A text zone; ``label=""`` means the label key equals ``name``, ``None`` means no label.

    Example:
        >>> z = text("surname", 0, 0, 40, 2.4)
        >>> (z.label, z.content, round(z.h, 2))
        ('surname', 'surname', 5.28)
    """
    key = name if label == "" else label
    h = text_h(size, key is not None, lines)
    return Zone(name, "text", x, y, w, h, key, size, lines, content or name, group)


def mrz_zone(kind: str) -> Zone:
    """The MRZ zone of an ID kind: full character width, the standard's zone height.

    Example:
        >>> z = mrz_zone("td3")
        >>> (round(z.w, 2), round(z.y, 1), z.lines)
        (111.76, 64.8, 2)
    """
    spec, k = MRZ_SPECS[kind], KINDS[kind]
    w = k.mrz_chars * MRZ_PITCH_MM
    y = k.height_mm - spec.zone_h
    return Zone(
        "mrz", "mrz", spec.left, y, w, spec.zone_h, None, MRZ_CHAR_MM, k.mrz_lines, "mrz", "mrz"
    )


def signature(
    x: float, y: float, w: float, h: float, group: str = "fields", label: str | None = "signature"
) -> Zone:
    """A signature zone; its label (if any) is printed above the strokes.

    Example:
        >>> signature(0, 0, 30, 8).label
        'signature'
    """
    return Zone("signature", "signature", x, y, w, h, label, 0.0, 1, "signature", group)


def portrait(x: float, y: float, w: float, h: float, group: str = "portrait") -> Zone:
    """A portrait zone (the photo rectangle).

    Example:
        >>> portrait(3, 8, 21, 27).cls
        'portrait'
    """
    return Zone("portrait", "portrait", x, y, w, h, None, 0.0, 1, "portrait", group)


def barcode(x: float, y: float, w: float, h: float, symbology: str, group: str = "barcode") -> Zone:
    """A barcode zone; ``symbology`` is ``pdf417`` or ``code128``.

    Example:
        >>> barcode(4, 26, 77, 24, "pdf417").content
        'pdf417'
    """
    return Zone("barcode", "barcode", x, y, w, h, None, 0.0, 1, symbology, group)
