"""Zone layouts of each document variant (millimetres, see :mod:`idseg.documents.synth.zones`).

Every function returns ``(zones, decos)``. Zone rectangles never overlap, and the groups that are
jittered independently (``portrait``, ``fields``, ``mrz``, ``barcode``) keep at least
``2 * MAX_JITTER_MM`` between them, so jittered fields still never overlap.

TD1 has five landscape variants: an identity-card front with the MRZ along its bottom (a documented
simplification: real TD1 cards print the MRZ on the back), a driving-licence front without MRZ, a
US-style licence front with a Code 128 under its portrait (:func:`td1_dl_front_code`), an
identity-card back with the 3-line MRZ, and a driving-licence back with a PDF417 symbol. ``td1v``
is the same card designed upright (US under-21 licences, instruction permits): a large portrait,
fields below it, a signature across the card and a Code 128 symbol at the bottom.
"""

from __future__ import annotations

import logging

from idseg.documents.classes import KINDS
from idseg.documents.synth.zones import (
    Deco,
    Zone,
    barcode,
    mrz_zone,
    portrait,
    signature,
    text,
    text_h,
)

logger = logging.getLogger(__name__)

#: Largest jitter of a zone group, mm (within the ICAO print-position tolerance of +-1 mm).
MAX_JITTER_MM = 0.5

Layout = tuple[tuple[Zone, ...], tuple[Deco, ...]]


Cell = tuple[str, float, float]


def _row(y: float, x: float, size: float, *cells: Cell) -> list[Zone]:
    """Text zones on one row: ``(name, dx, width)`` cells starting at ``x``."""
    return [text(name, x + dx, y, w, size) for name, dx, w in cells]


def _rows(y: float, pitch: float, x: float, size: float, *rows: tuple[Cell, ...]) -> list[Zone]:
    """Rows of :func:`_row` cells, the first at ``y``, each ``pitch`` mm below the one before."""
    return [zone for i, cells in enumerate(rows) for zone in _row(y + i * pitch, x, size, *cells)]


def td1_front_mrz() -> Layout:
    """Identity-card front with a 3-line MRZ along the bottom.

    Example:
        >>> zones, decos = td1_front_mrz()
        >>> sorted(z.cls for z in zones if z.cls != "text")
        ['mrz', 'portrait', 'signature']
    """
    x, s, pitch = 27.5, 2.2, 5.3
    zones = [portrait(3.5, 7.4, 21.5, 27.2)]
    zones += _rows(
        7.4, pitch, x, s,
        (("surname", 0, 54),),
        (("given_names", 0, 54),),
        (("sex", 0, 9), ("nationality", 11, 16), ("birth_date", 29, 25)),
        (("document_number", 0, 27), ("expiry_date", 29, 25)),
    )  # fmt: skip
    zones.append(signature(x, 7.4 + 4 * pitch, 28.0, 6.0))
    zones.append(mrz_zone("td1"))
    decos = [
        Deco("band", 0.0, 0.0, 85.6, 6.4),
        Deco("title", x, 1.2, 54.0, 4.0),
        Deco("logo", 4.0, 0.7, 5.0, 5.0),
        Deco("hologram", 17.0, 23.0, 13.0, 11.0),
    ]
    return tuple(zones), tuple(decos)


def td1_dl_front() -> Layout:
    """Driving-licence front (TD1 size, no MRZ): portrait, signature below it, fields right.

    Example:
        >>> zones, _ = td1_dl_front()
        >>> any(z.cls == "mrz" for z in zones)
        False
    """
    x, s, pitch = 31.0, 2.3, 5.5
    zones = [portrait(4.0, 11.0, 24.0, 31.0), signature(4.0, 44.0, 24.0, 8.0, group="portrait")]
    zones += _rows(
        11.0, pitch, x, s,
        (("surname", 0, 51),),
        (("given_names", 0, 51),),
        (("birth_date", 0, 24), ("place_of_birth", 26, 25)),
        (("issue_date", 0, 24), ("expiry_date", 26, 25)),
        (("authority", 0, 24), ("document_number", 26, 25)),
        (("categories", 0, 51),),
    )  # fmt: skip
    decos = [
        Deco("band", 0.0, 0.0, 85.6, 8.5),
        Deco("title", 12.0, 1.5, 60.0, 5.5),
        Deco("logo", 3.0, 1.0, 6.5, 6.5),
        Deco("hologram", 62.0, 44.0, 18.0, 8.0),
    ]
    return tuple(zones), tuple(decos)


def td1_back_mrz() -> Layout:
    """Identity-card back: address, authority, dates, a ghost portrait and the 3-line MRZ.

    Example:
        >>> zones, decos = td1_back_mrz()
        >>> [z.name for z in zones][-1], any(d.kind == "ghost" for d in decos)
        ('mrz', True)
    """
    x, s, pitch = 5.0, 2.2, 5.6
    zones = _rows(
        4.0, pitch, x, s,
        (("address", 0, 52),),
        (("authority", 0, 52),),
        (("issue_date", 0, 24), ("optional_data", 27, 25)),
        (("place_of_birth", 0, 52),),
    )  # fmt: skip
    zones.append(mrz_zone("td1"))
    decos = [Deco("ghost", 63.0, 4.0, 17.0, 22.0), Deco("logo", 63.0, 27.5, 6.5, 6.5)]
    return tuple(zones), tuple(decos)


def td1_dl_front_code() -> Layout:
    """US-style driving-licence front: a Code 128 under the portrait, unlabelled name and address.

    The portrait takes the top left, the symbol runs under it, name and address follow below it
    without labels, labelled fields fill the right half and an unlabelled signature sits in the
    bottom middle.

    Example:
        >>> zones, _ = td1_dl_front_code()
        >>> [z.content for z in zones if z.cls == "barcode"], any(z.cls == "mrz" for z in zones)
        (['code128'], False)
    """
    x, s, pitch = 33.0, 2.2, 5.3
    zones = [portrait(3.5, 4.0, 26.0, 30.5), barcode(3.5, 36.0, 26.0, 5.0, "code128")]
    for i, name in enumerate(("surname", "address")):  # under the symbol, no labels
        zones.append(text(name, 3.5, 42.5 + i * 3.4, 27.0, 2.0, label=None, group="closing"))
    zones += _rows(
        11.0, pitch, x, s,
        (("document_number", 0, 48),),
        (("birth_date", 0, 23), ("expiry_date", 25, 23)),
        (("sex", 0, 10), ("categories", 12, 14), ("issue_date", 28, 20)),
        (("given_names", 0, 48),),
    )  # fmt: skip
    zones.append(signature(x, 41.0, 27.0, 9.5, group="closing", label=None))
    decos = [
        Deco("title", x, 2.5, 40.0, 7.0),
        Deco("logo", 75.0, 2.0, 7.0, 7.0),
        Deco("hologram", 63.0, 39.0, 18.0, 11.0),
    ]
    return tuple(zones), tuple(decos)


def td1v_front() -> Layout:
    """Portrait-format ID-1 front (``td1v``): a large portrait under the band, dates beside it.

    Name and address rows follow below, then a wide unlabelled signature and a Code 128 symbol.

    Example:
        >>> zones, _ = td1v_front()
        >>> sorted(z.cls for z in zones if z.cls != "text")
        ['barcode', 'portrait', 'signature']
        >>> max(z.y + z.h for z in zones) < 85.6 - 1.0
        True
    """
    s, pitch = 2.1, 5.2
    zones = [portrait(3.5, 11.5, 25.0, 31.5)]
    beside = ("document_number", "birth_date", "issue_date", "expiry_date", "categories")
    zones += _rows(11.5, pitch, 31.0, s, *(((n, 0, 20),) for n in beside))  # right of the portrait
    below = ("surname", "given_names", "address")
    zones += _rows(45.0, pitch, 3.5, s, *(((n, 0, 47),) for n in below))  # full width below it
    zones.append(signature(3.5, 62.0, 40.0, 10.5, group="closing", label=None))
    zones.append(barcode(3.5, 74.5, 40.0, 7.0, "code128"))
    decos = [
        Deco("band", 0.0, 0.0, 53.98, 9.0),
        Deco("title", 11.0, 1.6, 40.0, 5.8),
        Deco("logo", 2.5, 1.2, 6.5, 6.5),
        Deco("hologram", 40.0, 66.0, 11.0, 15.0),
    ]
    return tuple(zones), tuple(decos)


def td1_dl_back() -> Layout:
    """Driving-licence back: categories, dates and a PDF417 symbol.

    Example:
        >>> zones, _ = td1_dl_back()
        >>> [z.content for z in zones if z.cls == "barcode"]
        ['pdf417']
    """
    x, s, pitch = 5.0, 2.2, 5.6
    zones = _rows(
        4.0, pitch, x, s,
        (("categories", 0, 50),),
        (("issue_date", 0, 24), ("expiry_date", 26, 24)),
        (("authority", 0, 50),),
    )  # fmt: skip
    zones.append(barcode(5.0, 23.5, 75.6, 26.0, "pdf417"))
    decos = [Deco("logo", 66.0, 4.0, 12.0, 12.0), Deco("hologram", 58.0, 2.5, 22.0, 16.0)]
    return tuple(zones), tuple(decos)


def td2_card() -> Layout:
    """TD2 card: portrait and signature left, seven rows of fields right, 2-line MRZ.

    Example:
        >>> zones, _ = td2_card()
        >>> round(max(z.y + z.h for z in zones if z.group == "fields"), 1) < 53.0
        True
    """
    x, s, pitch = 35.0, 2.4, 5.6
    zones = [portrait(4.5, 10.0, 27.0, 34.5), signature(4.5, 45.5, 27.0, 6.0, group="portrait")]
    zones += _rows(
        9.5, pitch, x, s,
        (("doc_type", 0, 10), ("issuing_state", 12, 14), ("document_number", 28, 38)),
        (("surname", 0, 66),),
        (("given_names", 0, 66),),
        (("nationality", 0, 30), ("birth_date", 32, 34)),
        (("sex", 0, 10), ("place_of_birth", 12, 54)),
        (("issue_date", 0, 30), ("authority", 32, 34)),
        (("expiry_date", 0, 30),),
    )  # fmt: skip
    zones.append(mrz_zone("td2"))
    decos = [
        Deco("band", 0.0, 0.0, 105.0, 7.8),
        Deco("title", 35.0, 1.6, 66.0, 4.6),
        Deco("logo", 4.5, 0.9, 6.0, 6.0),
        Deco("ghost", 82.0, 44.0, 14.0, 8.5),
        Deco("hologram", 20.0, 30.0, 16.0, 16.0),
    ]
    return tuple(zones), tuple(decos)


def td3_page() -> Layout:
    """TD3 passport data page: portrait and signature left, eight rows of fields, 2-line MRZ.

    Example:
        >>> zones, _ = td3_page()
        >>> [z.lines for z in zones if z.cls == "mrz"]
        [2]
    """
    x, s, pitch = 42.0, 2.6, 5.9
    zones = [portrait(5.0, 13.0, 33.0, 42.5), signature(5.0, 56.5, 33.0, 7.0, group="portrait")]
    zones += _rows(
        12.0, pitch, x, s,
        (("doc_type", 0, 10), ("issuing_state", 12, 16), ("document_number", 30, 44)),
        (("surname", 0, 79),),
        (("given_names", 0, 79),),
        (("nationality", 0, 34), ("optional_data", 36, 43)),
        (("birth_date", 0, 34), ("sex", 36, 12)),
        (("place_of_birth", 0, 79),),
        (("issue_date", 0, 34), ("authority", 36, 43)),
        (("expiry_date", 0, 34),),
    )  # fmt: skip
    zones.append(mrz_zone("td3"))
    decos = [
        Deco("band", 0.0, 0.0, 125.0, 9.5),
        Deco("title", 42.0, 2.0, 79.0, 5.5),
        Deco("logo", 5.0, 1.0, 7.5, 7.5),
        Deco("ghost", 92.0, 54.5, 14.0, 9.5),
        Deco("hologram", 26.0, 38.0, 20.0, 20.0),
    ]
    return tuple(zones), tuple(decos)


def page(kind: str, table: bool, code128: bool) -> Layout:
    """A letter page (A4 or Letter): letterhead, recipient, date, subject, paragraphs, signature.

    Paragraphs fill the space between the subject and the closing block; ``table`` replaces the
    last paragraph slot with a ruled table (one ``text`` field: grid and cells), ``code128`` adds a
    Code 128 symbol beside the signature.

    Example:
        >>> zones, _ = page("a4", table=True, code128=True)
        >>> {"table", "barcode", "signature", "letterhead"} <= {z.name for z in zones}
        True
    """
    k = KINDS[kind]
    w, h, m = k.width_mm, k.height_mm, 22.0
    body = w - 2 * m
    zones = [
        text("letterhead", m + 24.0, 15.0, body - 24.0, 5.0, label=None, content="organisation"),
        text("org_address", m + 24.0, 25.0, body - 24.0, 2.4, label=None),
        text("recipient", m, 46.0, 80.0, 3.0, label=None, lines=4),
        text("date", w - m - 48.0, 46.0, 48.0, 3.0, label=None),
        text("subject", m, 74.0, body, 3.4, label=None),
    ]
    y, bottom = 86.0, h - 66.0
    para_h = text_h(2.8, label=False, lines=5)
    n = 0
    while y + para_h <= bottom - (44.0 if table else 0.0):
        n += 1
        zones.append(
            text(f"paragraph_{n}", m, y, body, 2.8, label=None, lines=5, content="paragraph")
        )
        y += para_h + 5.0
    if table:
        zones.append(text("table", m, y, body, 2.6, label=None, lines=8, content="table"))
    zones.append(signature(m, h - 60.0, 62.0, 16.0, group="closing", label=None))
    zones.append(text("signatory", m, h - 42.0, 62.0, 3.0, label=None, group="closing"))
    if code128:
        zones.append(barcode(w - m - 72.0, h - 58.0, 72.0, 16.0, "code128", group="barcode"))
    zones.append(text("footer", m, h - 18.0, body, 2.2, label=None, group="footer"))
    decos = [Deco("logo", m, 13.0, 19.0, 19.0), Deco("rule", m, 36.0, body, 0.5)]
    return tuple(zones), tuple(decos)
