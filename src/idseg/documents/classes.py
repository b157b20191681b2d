"""The document classes and kinds every part of idseg agrees on.

Class masks are single-channel PNGs of class indices: ``0`` background, ``1`` document, then one value
per field class. Field pixels take their field's class; the rest of a document is ``1``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Class names by index (the order is the class value in masks).
CLASS_NAMES: tuple[str, ...] = (
    "background",
    "document",
    "portrait",
    "mrz",
    "text",
    "signature",
    "barcode",
)

#: Field classes (everything inside a document that is not plain document).
FIELD_CLASSES: tuple[str, ...] = CLASS_NAMES[2:]


def class_index(name: str) -> int:
    """Index of a class name.

    Example:
        >>> class_index("mrz")
        3
    """
    from idseg._text import did_you_mean
    from idseg.errors import InputError

    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        raise InputError(
            f"unknown class {name!r}{did_you_mean(name, CLASS_NAMES)} "
            f"Expected one of: {', '.join(CLASS_NAMES)}"
        ) from None


@dataclass(frozen=True)
class DocumentKind:
    """A physical document format.

    Attributes:
        name: ``td1``, ``td1v``, ``td2``, ``td3``, ``a4`` or ``letter``.
        width_mm: Width in millimetres (landscape for ID formats except ``td1v``, an ID-1 card
            designed in portrait format; portrait for pages).
        height_mm: Height in millimetres.
        mrz_lines: Lines of the machine-readable zone (0 for pages and ``td1v``).
        mrz_chars: Characters per MRZ line (0 for pages and ``td1v``).
        corner_radius_mm: Radius of the rounded corners (ISO/IEC 7810; 0 for pages).
    """

    name: str
    width_mm: float
    height_mm: float
    mrz_lines: int
    mrz_chars: int
    corner_radius_mm: float

    @property
    def aspect(self) -> float:
        """Width divided by height (1.586 for TD1).

        Example:
            >>> round(KINDS["td1"].aspect, 3)
            1.586
        """
        return self.width_mm / self.height_mm

    @property
    def is_page(self) -> bool:
        """Whether this is a paper page (square corners, letter content) rather than an ID.

        Example:
            >>> KINDS["a4"].is_page, KINDS["td1v"].is_page
            (True, False)
        """
        return self.corner_radius_mm == 0.0


#: ICAO 9303 sizes (TD1 = ISO/IEC 7810 ID-1, TD2 = ID-2, TD3 = ID-3 passport page) and paper pages.
#: ``td1v`` is an ID-1 card designed upright (portrait format, as US under-21 licences and
#: instruction permits are), without MRZ.
KINDS: dict[str, DocumentKind] = {
    "td1": DocumentKind("td1", 85.6, 53.98, 3, 30, 3.18),
    "td1v": DocumentKind("td1v", 53.98, 85.6, 0, 0, 3.18),
    "td2": DocumentKind("td2", 105.0, 74.0, 2, 36, 3.18),
    "td3": DocumentKind("td3", 125.0, 88.0, 2, 44, 3.18),
    "a4": DocumentKind("a4", 210.0, 297.0, 0, 0, 0.0),
    "letter": DocumentKind("letter", 215.9, 279.4, 0, 0, 0.0),
}
