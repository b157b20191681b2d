"""MRZ name fields (ICAO 9303 Part 3): transliteration to ``A-Z`` and truncation.

Hyphens and spaces become fillers, apostrophes and other punctuation are omitted, letters with
diacritics lose them or take the recommended transliteration (Part 3, Section 6), and names too
long for the field are truncated so that the last position holds a letter.
"""

from __future__ import annotations

import logging
import unicodedata

from idseg.errors import InputError

logger = logging.getLogger(__name__)

# Doc 9303-3 Section 6: recommended transliterations of Latin letters that are not a base letter
# plus diacritics (the rest lose their diacritics).
_TRANSLIT = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Œ": "OE", "Ü": "UE", "ß": "SS",
    "Þ": "TH", "Ð": "D", "Đ": "D", "Ħ": "H", "Ł": "L", "Ŋ": "N", "Ŧ": "T", "Ĳ": "IJ", "ı": "I",
}  # fmt: skip
_FILLER_CHARS = " -\u2010\u2011\u2012\u2013"


def transliterate(text: str) -> str:
    """Transliterate a name to MRZ characters: ``A-Z`` with ``<`` between components.

    Example:
        >>> transliterate("Smith-Jones"), transliterate("O'Connor"), transliterate("Müller Øst")
        ('SMITH<JONES', 'OCONNOR', 'MUELLER<OEST')
    """
    out: list[str] = []
    for char in text.upper():
        if char in _TRANSLIT:
            out.append(_TRANSLIT[char])
        elif char in _FILLER_CHARS:
            out.append("<")
        else:
            base = unicodedata.normalize("NFKD", char)
            out.append("".join(c for c in base if "A" <= c <= "Z"))
    return "<".join(part for part in "".join(out).split("<") if part)


def _fit(components: list[str], budget: int) -> str:
    """Join name components with fillers, truncated to ``budget`` so the last character is a letter."""
    joined = "<".join(components)
    if len(joined) <= budget:
        return joined
    cut = joined[:budget]
    if cut[-1] != "<":
        return cut
    # The cut ends on a filler: shorten the last multi-letter component by one letter to make room
    # for the initial of the next one.
    parts = cut[:-1].split("<")
    for i in reversed(range(len(parts))):
        if len(parts[i]) >= 2:
            parts[i] = parts[i][:-1]
            return "<".join(parts) + "<" + joined[budget]
    return cut[:-1]


def name_field(surname: str, given_names: str, length: int) -> str:
    """The MRZ name field: ``PRIMARY<<SECONDARY`` padded or truncated to ``length`` characters.

    When the name is too long, the secondary identifier is truncated first; when the primary
    identifier alone leaves no room, it is truncated too, keeping ``<<`` and the first two letters
    of the secondary identifier (Doc 9303-3 Section 4.6 and the examples of Part 7 Section 4.2.3).

    Example:
        >>> name_field("Eriksson", "Anna Maria", 30)
        'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'
        >>> name_field("Nilavadhanananda", "Arnpol Petch Charonguang", 39)
        'NILAVADHANANANDA<<ARNPOL<PETCH<CHARONGU'
    """
    primary = [p for p in transliterate(surname).split("<") if p]
    secondary = [s for s in transliterate(given_names).split("<") if s]
    if not primary:
        raise InputError(f"the surname must contain at least one letter, got {len(surname)} chars")
    if not secondary:
        return _pad(_fit(primary, length), length)
    head = "<".join(primary)
    if len(head) + 3 > length:
        head = _fit(primary, length - 2 - min(2, len(secondary[0])))
    return _pad(head + "<<" + _fit(secondary, length - len(head) - 2), length)


def _pad(text: str, length: int) -> str:
    return text[:length].ljust(length, "<")
