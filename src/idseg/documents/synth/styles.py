"""Visual styles of synthetic documents: palettes, patterns, fonts, label languages, date formats.

A :class:`Style` is the look of a template (see :mod:`idseg.documents.synth.layouts`): its colours,
background pattern, emblem, holographic overlay, fonts and the languages of its field labels.
Labels are printed document background, not fields; their texts come from :data:`LABELS`.
"""

from __future__ import annotations

import colorsys
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from idseg.errors import InputError

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]

#: Background patterns drawn by :mod:`idseg.documents.synth.patterns`.
PATTERNS: tuple[str, ...] = ("waves", "rosette", "guilloche", "lines", "mesh", "none")
#: Emblems drawn by :mod:`idseg.documents.synth.patterns`.
LOGOS: tuple[str, ...] = ("star", "shield", "sun", "globe", "laurel", "none")
#: Date formats understood by :func:`format_date`.
DATE_FORMATS: tuple[str, ...] = (
    "DD MMM YYYY", "DD.MM.YYYY", "DD/MM/YYYY", "YYYY-MM-DD", "MM/DD/YYYY"
)  # fmt: skip

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

#: Field labels by key, then language.
LABELS: dict[str, dict[str, str]] = {
    "surname": {"en": "Surname", "fr": "Nom", "de": "Name", "es": "Apellidos", "it": "Cognome"},
    "given_names": {
        "en": "Given names",
        "fr": "Prénoms",
        "de": "Vornamen",
        "es": "Nombre",
        "it": "Nome",
    },
    "sex": {"en": "Sex", "fr": "Sexe", "de": "Geschlecht", "es": "Sexo", "it": "Sesso"},
    "nationality": {
        "en": "Nationality",
        "fr": "Nationalité",
        "de": "Staatsangehörigkeit",
        "es": "Nacionalidad",
        "it": "Cittadinanza",
    },
    "birth_date": {
        "en": "Date of birth",
        "fr": "Date de naissance",
        "de": "Geburtsdatum",
        "es": "Fecha de nacimiento",
        "it": "Data di nascita",
    },
    "place_of_birth": {
        "en": "Place of birth",
        "fr": "Lieu de naissance",
        "de": "Geburtsort",
        "es": "Lugar de nacimiento",
        "it": "Luogo di nascita",
    },
    "document_number": {
        "en": "Document No.",
        "fr": "N° du document",
        "de": "Ausweisnummer",
        "es": "Núm. documento",
        "it": "N. documento",
    },
    "expiry_date": {
        "en": "Date of expiry",
        "fr": "Date d'expiration",
        "de": "Gültig bis",
        "es": "Fecha de caducidad",
        "it": "Scadenza",
    },
    "issue_date": {
        "en": "Date of issue",
        "fr": "Date de délivrance",
        "de": "Ausstellungsdatum",
        "es": "Fecha de expedición",
        "it": "Data di rilascio",
    },
    "authority": {
        "en": "Authority",
        "fr": "Autorité",
        "de": "Behörde",
        "es": "Autoridad",
        "it": "Autorità",
    },
    "signature": {
        "en": "Holder's signature",
        "fr": "Signature du titulaire",
        "de": "Unterschrift",
        "es": "Firma del titular",
        "it": "Firma del titolare",
    },
    "doc_type": {"en": "Type", "fr": "Type", "de": "Typ", "es": "Tipo", "it": "Tipo"},
    "issuing_state": {"en": "Code", "fr": "Code", "de": "Code", "es": "Código", "it": "Codice"},
    "address": {
        "en": "Address",
        "fr": "Adresse",
        "de": "Anschrift",
        "es": "Domicilio",
        "it": "Indirizzo",
    },
    "categories": {
        "en": "Categories",
        "fr": "Catégories",
        "de": "Klassen",
        "es": "Categorías",
        "it": "Categorie",
    },
    "optional_data": {
        "en": "Personal No.",
        "fr": "N° personnel",
        "de": "Kennnummer",
        "es": "DNI",
        "it": "Cod. personale",
    },
}

#: Document titles printed in the header (background, not fields).
TITLES: dict[str, dict[str, str]] = {
    "identity_card": {
        "en": "IDENTITY CARD",
        "fr": "CARTE D'IDENTITÉ",
        "de": "PERSONALAUSWEIS",
        "es": "DOCUMENTO DE IDENTIDAD",
        "it": "CARTA D'IDENTITÀ",
    },
    "passport": {
        "en": "PASSPORT",
        "fr": "PASSEPORT",
        "de": "REISEPASS",
        "es": "PASAPORTE",
        "it": "PASSAPORTO",
    },
    "driving_licence": {
        "en": "DRIVING LICENCE",
        "fr": "PERMIS DE CONDUIRE",
        "de": "FÜHRERSCHEIN",
        "es": "PERMISO DE CONDUCCIÓN",
        "it": "PATENTE DI GUIDA",
    },
    "residence_permit": {
        "en": "RESIDENCE PERMIT",
        "fr": "TITRE DE SÉJOUR",
        "de": "AUFENTHALTSTITEL",
        "es": "PERMISO DE RESIDENCIA",
        "it": "PERMESSO DI SOGGIORNO",
    },
    "travel_document": {
        "en": "TRAVEL DOCUMENT",
        "fr": "TITRE DE VOYAGE",
        "de": "REISEDOKUMENT",
        "es": "DOCUMENTO DE VIAJE",
        "it": "DOCUMENTO DI VIAGGIO",
    },
}


@dataclass(frozen=True)
class Style:
    """The look of a template.

    Attributes:
        background: The two colours of the background gradient.
        gradient_angle: Direction of the gradient in degrees (0 = left to right).
        pattern: Background security pattern, one of :data:`PATTERNS`.
        pattern_color: Colour of the pattern lines.
        pattern_alpha: Opacity of the pattern lines (0..1).
        accent: Colour of the header band, title and emblem.
        ink: Colour of field values.
        label_color: Colour of field labels.
        logo: Emblem, one of :data:`LOGOS`.
        hologram: Whether a semi-transparent rainbow patch is laid over the card.
        ghost: Whether a faded copy of the portrait is printed (background, not a field).
        text_font: Font name of field values.
        label_font: Font name of labels.
        title_font: Font name of the title.
        languages: Label languages, joined with `` / `` (e.g. ``("en", "fr")``).
        date_format: One of :data:`DATE_FORMATS`.
    """

    background: tuple[Color, Color]
    gradient_angle: float
    pattern: str
    pattern_color: Color
    pattern_alpha: float
    accent: Color
    ink: Color
    label_color: Color
    logo: str
    hologram: bool
    ghost: bool
    text_font: str
    label_font: str
    title_font: str
    languages: tuple[str, ...]
    date_format: str

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise InputError(f"pattern must be one of {PATTERNS}, got {self.pattern!r}")
        if self.logo not in LOGOS:
            raise InputError(f"logo must be one of {LOGOS}, got {self.logo!r}")
        if self.date_format not in DATE_FORMATS:
            raise InputError(f"date_format must be one of {DATE_FORMATS}, got {self.date_format!r}")
        if not self.languages or any(lang not in LABELS["surname"] for lang in self.languages):
            raise InputError(
                f"languages must be a non-empty subset of {tuple(LABELS['surname'])}, "
                f"got {self.languages!r}"
            )


def vary_style(style: Style, rng: np.random.Generator) -> Style:
    """A variant of a style: its hues turned, its band darker or lighter, another pattern or emblem.

    Used by :class:`~idseg.documents.synth.scene_options.SceneOptions` ``p_restyle`` so that a
    localiser meets more designs than the templates hold: a document edge in any colour (a header
    band, a dark frame) is still document. Ink, fonts, languages and layout are kept.

    Args:
        style: The template's style.
        rng: The only source of randomness.

    Returns:
        A new style; every colour is turned by one random hue angle.

    Example:
        >>> from idseg.documents.synth.layouts import get_template
        >>> base = get_template("td1_blue_wave").style
        >>> new = vary_style(base, np.random.default_rng(0))
        >>> new.ink == base.ink, new.accent != base.accent
        (True, True)
    """
    turn = float(rng.uniform(0.1, 0.9))
    saturate = float(rng.uniform(0.6, 1.8))
    accent_light = float(rng.uniform(0.12, 0.55))

    def recolour(c: Color, lightness: float | None = None) -> Color:
        h, light, sat = colorsys.rgb_to_hls(*(v / 255.0 for v in c))
        rgb = colorsys.hls_to_rgb(
            (h + turn) % 1.0, light if lightness is None else lightness, min(1.0, sat * saturate)
        )
        return (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255))

    b0, b1 = style.background
    pattern = style.pattern if rng.random() < 0.5 else str(rng.choice(PATTERNS))
    logo = style.logo if rng.random() < 0.5 else str(rng.choice(LOGOS))
    return dataclasses.replace(
        style,
        background=(recolour(b0), recolour(b1)),
        gradient_angle=float(rng.uniform(0.0, 360.0)),
        pattern=pattern,
        pattern_color=recolour(style.pattern_color),
        pattern_alpha=float(np.clip(style.pattern_alpha * rng.uniform(0.5, 1.5), 0.03, 0.6)),
        accent=recolour(style.accent, accent_light),
        label_color=recolour(style.label_color),
        logo=logo,
        hologram=bool(rng.random() < 0.5),
    )


def label_text(key: str, languages: tuple[str, ...]) -> str:
    """The printed label of a field in the given languages.

    Example:
        >>> label_text("surname", ("en", "fr"))
        'Surname / Nom'
    """
    if key not in LABELS:
        raise InputError(f"unknown label {key!r}; expected one of {sorted(LABELS)}")
    return " / ".join(LABELS[key][lang] for lang in languages)


def title_text(key: str, languages: tuple[str, ...]) -> str:
    """The document title in the given languages (pages: the key itself).

    Example:
        >>> title_text("passport", ("en", "fr"))
        'PASSPORT / PASSEPORT'
    """
    if key not in TITLES:
        return key
    return " / ".join(TITLES[key][lang] for lang in languages)


def format_date(date: dt.date, fmt: str) -> str:
    """Print a date in one of :data:`DATE_FORMATS` (locale-independent).

    Example:
        >>> format_date(dt.date(1985, 3, 7), "DD MMM YYYY")
        '07 MAR 1985'
    """
    if fmt == "DD MMM YYYY":
        return f"{date.day:02d} {_MONTHS[date.month - 1]} {date.year:04d}"
    if fmt == "DD.MM.YYYY":
        return f"{date.day:02d}.{date.month:02d}.{date.year:04d}"
    if fmt == "DD/MM/YYYY":
        return f"{date.day:02d}/{date.month:02d}/{date.year:04d}"
    if fmt == "YYYY-MM-DD":
        return date.isoformat()
    if fmt == "MM/DD/YYYY":  # United States
        return f"{date.month:02d}/{date.day:02d}/{date.year:04d}"
    raise InputError(f"date format must be one of {DATE_FORMATS}, got {fmt!r}")
