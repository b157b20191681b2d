"""Named templates of synthetic documents: zone geometry (mm) plus a visual style.

A :class:`Template` pairs a document kind and a zone layout from
:mod:`idseg.documents.synth.blueprints` (ICAO 9303 zones for TD1/TD2/TD3, letter layouts for
A4/Letter pages) with a :class:`~idseg.documents.synth.styles.Style`. :meth:`Template.layout` jitters
zone groups within the standard's print tolerance for each rendered document.

TD1 templates come as fronts and backs; the MRZ appears on the identity-card front variant (a
documented simplification: real cards print it on the back) and on the back variant, so a share
of TD1 documents carries a 3-line MRZ and the rest (driving licences) none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from idseg._text import did_you_mean
from idseg.documents.classes import KINDS
from idseg.documents.synth import blueprints as bp
from idseg.documents.synth.styles import Color, Style
from idseg.documents.synth.zones import Deco, Zone
from idseg.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "REAL_CARD_TEMPLATES",
    "Deco",
    "Style",
    "Template",
    "Zone",
    "drawn_templates",
    "get_template",
    "list_templates",
]


@dataclass(frozen=True)
class Template:
    """A named document design.

    Attributes:
        name: Unique name such as ``td1_blue_wave``.
        kind: Key of :data:`idseg.documents.classes.KINDS`.
        zones: Field zones in mm (see :class:`~idseg.documents.synth.zones.Zone`).
        decos: Decorative elements in mm (band, title, logo, hologram, ghost, rule).
        style: Colours, pattern, emblem, fonts and label languages.
        doc_code: Document code of the MRZ (``P`` passports, ``I``/``ID`` identity cards...).
        title: Key of :data:`~idseg.documents.synth.styles.TITLES` (ID kinds), or the
            organisation named in the letterhead (pages).
        jitter_mm: Largest shift of a zone group per document, mm.
        real_only: Left out of the pool of unnamed templates unless asked for real-looking
            cards: by scenes only when ``SceneOptions.p_real > 0`` (then for all of their
            scenes, real-looking or not), by ``render_document(kind=...)`` only when
            ``real=True`` (see :data:`REAL_CARD_TEMPLATES`).
    """

    name: str
    kind: str
    zones: tuple[Zone, ...]
    decos: tuple[Deco, ...]
    style: Style
    doc_code: str = "I"
    title: str = "identity_card"
    jitter_mm: float = bp.MAX_JITTER_MM
    real_only: bool = False

    @property
    def width_mm(self) -> float:
        """Document width in mm.

        Example:
            >>> get_template("td3_navy_guilloche").width_mm
            125.0
        """
        return KINDS[self.kind].width_mm

    @property
    def height_mm(self) -> float:
        """Document height in mm.

        Example:
            >>> get_template("td3_navy_guilloche").height_mm
            88.0
        """
        return KINDS[self.kind].height_mm

    @property
    def has_mrz(self) -> bool:
        """Whether documents of this template carry an MRZ.

        Example:
            >>> get_template("td1_dl_green_rosette").has_mrz
            False
        """
        return any(z.cls == "mrz" for z in self.zones)

    def layout(self, rng: np.random.Generator) -> tuple[tuple[Zone, ...], tuple[Deco, ...]]:
        """Zones and decorations with each group shifted by up to ``jitter_mm`` in x and y.

        Groups are visited in sorted order, so the same generator state gives the same layout.

        Example:
            >>> t = get_template("td3_navy_guilloche")
            >>> zones, _ = t.layout(np.random.default_rng(0))
            >>> max(abs(a.x - b.x) for a, b in zip(zones, t.zones)) <= t.jitter_mm
            True
        """
        groups = sorted({z.group for z in self.zones} | {d.group for d in self.decos})
        shifts = {g: rng.uniform(-self.jitter_mm, self.jitter_mm, 2) for g in groups}
        shifts[""] = np.zeros(2)
        zones = tuple(z.shifted(*map(float, shifts[z.group])) for z in self.zones)
        decos = tuple(d.shifted(*map(float, shifts[d.group])) for d in self.decos)
        return zones, decos


def _style(
    background: tuple[Color, Color],
    pattern: str,
    accent: Color,
    *,
    angle: float = 30.0,
    pattern_color: Color | None = None,
    pattern_alpha: float = 0.35,
    ink: Color = (20, 20, 30),
    label_color: Color | None = None,
    logo: str = "star",
    hologram: bool = True,
    ghost: bool = False,
    fonts: tuple[str, str, str] = ("sans", "sans", "sans-bold"),
    languages: tuple[str, ...] = ("en",),
    date_format: str = "DD MMM YYYY",
) -> Style:
    return Style(
        background,
        angle,
        pattern,
        pattern_color or accent,
        pattern_alpha,
        accent,
        ink,
        label_color or accent,
        logo,
        hologram,
        ghost,
        fonts[0],
        fonts[1],
        fonts[2],
        languages,
        date_format,
    )


_BLUE, _GREEN, _SAND = (25, 60, 140), (20, 105, 70), (140, 95, 40)
_NAVY, _BURGUNDY, _TEAL, _ROSE = (20, 35, 90), (115, 25, 45), (15, 110, 115), (160, 50, 95)
_PAPER, _CREAM = ((255, 255, 255), (246, 246, 244)), ((252, 249, 240), (244, 238, 224))

_SPECS: list[tuple[str, str, Callable[[], bp.Layout], Style, str, str]] = [
    # name, kind, layout, style, doc_code, title
    ("td1_blue_wave", "td1", bp.td1_front_mrz,
     _style(((222, 234, 250), (196, 214, 240)), "waves", _BLUE, languages=("en", "fr")),
     "ID", "identity_card"),
    ("td1_sand_guilloche", "td1", bp.td1_front_mrz,
     _style(((248, 236, 214), (232, 214, 186)), "guilloche", _SAND, logo="sun", angle=110.0,
            fonts=("serif", "sans", "serif-bold"), languages=("de", "en"), date_format="DD.MM.YYYY"),
     "ID", "identity_card"),
    ("td1_dl_green_rosette", "td1", bp.td1_dl_front,
     _style(((226, 242, 228), (204, 228, 236)), "rosette", _GREEN, logo="shield",
            languages=("en", "it"), date_format="DD/MM/YYYY"),
     "DL", "driving_licence"),
    ("td1_back_violet_lines", "td1", bp.td1_back_mrz,
     _style(((238, 232, 246), (222, 214, 238)), "lines", (90, 50, 140), logo="globe",
            hologram=False, ghost=True, languages=("fr", "en"), date_format="DD.MM.YYYY"),
     "ID", "identity_card"),
    ("td1_dl_back_pdf417", "td1", bp.td1_dl_back,
     _style(((236, 244, 236), (216, 232, 218)), "mesh", _GREEN, logo="laurel",
            languages=("en", "es"), date_format="DD/MM/YYYY"),
     "DL", "driving_licence"),
    ("td1_dl_code_sky_waves", "td1", bp.td1_dl_front_code,
     _style(((236, 242, 252), (222, 232, 246)), "waves", (20, 90, 160), logo="sun",
            languages=("en",), date_format="MM/DD/YYYY"),
     "DL", "driving_licence"),
    ("td1_dl_code_lilac_guilloche", "td1", bp.td1_dl_front_code,
     _style(((244, 236, 248), (232, 240, 236)), "guilloche", (110, 60, 140), logo="star",
            angle=120.0, fonts=("serif", "sans", "serif-bold"), languages=("en", "es"),
            date_format="MM/DD/YYYY"),
     "DL", "driving_licence"),
    ("td1v_dl_amber_rosette", "td1v", bp.td1v_front,
     _style(((250, 240, 222), (236, 226, 240)), "rosette", (185, 95, 20), logo="star",
            languages=("en",), date_format="DD MMM YYYY"),
     "DL", "driving_licence"),
    ("td1v_permit_sky_waves", "td1v", bp.td1v_front,
     _style(((226, 240, 250), (244, 236, 230)), "waves", (30, 110, 170), logo="shield",
            angle=60.0, fonts=("sans", "sans", "serif-bold"), languages=("en",),
            date_format="DD/MM/YYYY"),
     "DL", "driving_licence"),
    ("td2_teal_guilloche", "td2", bp.td2_card,
     _style(((222, 244, 242), (240, 236, 222)), "guilloche", _TEAL, logo="globe", ghost=True,
            languages=("en", "es"), date_format="DD MMM YYYY"),
     "I", "residence_permit"),
    ("td2_rose_rosette", "td2", bp.td2_card,
     _style(((250, 232, 238), (236, 226, 246)), "rosette", _ROSE, logo="laurel", angle=75.0,
            fonts=("serif", "serif", "serif-bold"), languages=("fr", "en"),
            date_format="DD.MM.YYYY"),
     "I", "identity_card"),
    ("td3_navy_guilloche", "td3", bp.td3_page,
     _style(((236, 238, 248), (214, 224, 242)), "guilloche", _NAVY, logo="shield", ghost=True,
            languages=("en", "fr")),
     "P", "passport"),
    ("td3_burgundy_rosette", "td3", bp.td3_page,
     _style(((250, 238, 232), (238, 222, 226)), "rosette", _BURGUNDY, logo="laurel",
            fonts=("serif", "sans", "serif-bold"), languages=("es", "en", "fr"),
            date_format="DD/MM/YYYY"),
     "P", "passport"),
    ("td3_green_waves", "td3", bp.td3_page,
     _style(((232, 244, 230), (246, 242, 222)), "waves", _GREEN, logo="sun", angle=150.0,
            ghost=True, languages=("de", "en"), date_format="DD.MM.YYYY"),
     "P", "passport"),
    ("td3_grey_mesh", "td3", bp.td3_page,
     _style(((240, 240, 240), (222, 226, 232)), "mesh", (60, 70, 85), logo="star",
            hologram=False, languages=("it", "en"), date_format="YYYY-MM-DD"),
     "PD", "travel_document"),
    ("a4_letter_table", "a4", lambda: bp.page("a4", table=True, code128=False),
     _style(_PAPER, "none", _NAVY, logo="globe", hologram=False, fonts=("serif", "serif", "serif-bold")),
     "", "Office of Civil Records"),
    ("a4_notice_code128", "a4", lambda: bp.page("a4", table=False, code128=True),
     _style(_CREAM, "lines", _BURGUNDY, pattern_alpha=0.06, logo="shield", hologram=False),
     "", "Northbridge Municipal Services"),
    ("letter_statement", "letter", lambda: bp.page("letter", table=True, code128=True),
     _style(_PAPER, "none", _TEAL, logo="sun", hologram=False, date_format="YYYY-MM-DD"),
     "", "Harbourview Utilities Cooperative"),
    ("letter_memo", "letter", lambda: bp.page("letter", table=False, code128=False),
     _style(_CREAM, "waves", _GREEN, pattern_alpha=0.05, logo="star", hologram=False,
            fonts=("serif", "serif", "sans-bold"), date_format="DD/MM/YYYY"),
     "", "Department of Fictional Affairs"),
]  # fmt: skip

#: Templates drawn only by scenes that ask for real-looking cards (``p_real > 0``) or that name
#: them: added after the bundled localiser's training data, which keeps its bytes.
REAL_CARD_TEMPLATES: frozenset[str] = frozenset(
    {"td1_dl_code_sky_waves", "td1_dl_code_lilac_guilloche"}
)

TEMPLATES: dict[str, Template] = {
    name: Template(
        name, kind, *make(), style=style, doc_code=code, title=title,
        real_only=name in REAL_CARD_TEMPLATES,
    )
    for name, kind, make, style, code, title in _SPECS
}  # fmt: skip


def list_templates(kind: str | None = None) -> list[str]:
    """Template names, all or of one document kind, in a fixed order.

    Example:
        >>> list_templates("td2")
        ['td2_rose_rosette', 'td2_teal_guilloche']
    """
    if kind is not None and kind not in KINDS:
        raise InputError(
            f"unknown document kind {kind!r}{did_you_mean(kind, KINDS)} "
            f"Expected one of: {', '.join(KINDS)}"
        )
    return sorted(n for n, t in TEMPLATES.items() if kind is None or t.kind == kind)


def drawn_templates(kind: str | None, real: bool) -> list[str]:
    """The templates drawn when none is named: all (of one kind), the real-card ones only if ``real``.

    Example:
        >>> "td1_dl_code_sky_waves" in drawn_templates("td1", real=False)
        False
        >>> "td1_dl_code_sky_waves" in drawn_templates("td1", real=True)
        True
    """
    return [n for n in list_templates(kind) if real or not TEMPLATES[n].real_only]


def get_template(name: str) -> Template:
    """The template called ``name``.

    Example:
        >>> get_template("td1_blue_wave").kind
        'td1'
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        raise InputError(
            f"unknown template {name!r}{did_you_mean(name, TEMPLATES)} "
            f"Expected one of: {', '.join(sorted(TEMPLATES))}"
        ) from None
