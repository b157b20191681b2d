"""What a synthetic document says: field values from an identity, and filler text for pages.

Values of ID fields come from an :class:`~idseg.documents.synth.identity.Identity` (names in
capitals as on most visual zones, dates in the template's format). Pages get an invented letter:
organisation address, recipient block, subject, paragraphs from a neutral vocabulary, a table of
reference numbers and amounts, a signatory and a footer. Nothing refers to a real person.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np

from idseg.documents.synth.identity import Identity
from idseg.documents.synth.styles import format_date

logger = logging.getLogger(__name__)

_STREETS = (
    "Harbour Street", "Linden Avenue", "Mill Road", "Station Square", "Rue des Lilas",
    "Hauptstrasse", "Calle Mayor", "Via Roma", "Church Lane", "Orchard Close", "Park Terrace",
)  # fmt: skip
_TOWNS = (
    "Northbridge", "Eastwick", "Lowmoor", "Kingsford", "Valbonne", "Altstadt", "Riverside",
    "Westhaven", "Brightwater", "Stonebury",
)  # fmt: skip
_WORDS = (
    "the", "of", "and", "to", "your", "account", "records", "office", "request", "please", "note",
    "that", "we", "have", "received", "information", "regarding", "application", "period",
    "statement", "services", "reference", "above", "following", "payment", "due", "date", "within",
    "days", "contact", "department", "review", "documents", "submitted", "confirm", "details",
    "registered", "address", "changes", "notice", "annual", "renewal", "processing", "completed",
    "further", "questions", "may", "be", "directed", "our", "team", "for", "this", "with", "as",
    "required", "by", "regulations", "enclosed", "summary", "is", "in", "accordance", "terms",
)  # fmt: skip
_SUBJECTS = (
    "Notice of annual renewal", "Confirmation of registration", "Statement of account",
    "Change of address", "Request for documents", "Payment reminder", "Certificate of residence",
)  # fmt: skip
_TABLE_HEAD = ("Reference", "Description", "Date", "Amount")
_ITEMS = (
    "Service fee",
    "Annual charge",
    "Adjustment",
    "Late fee",
    "Refund",
    "Processing",
    "Renewal",
)
_CATEGORIES = ("AM", "A1", "A2", "A", "B1", "B", "BE", "C1", "C", "CE", "D1", "D")


def _pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def street_address(rng: np.random.Generator) -> str:
    """A made-up street address.

    Example:
        >>> street_address(np.random.default_rng(0)).split()[0].isdigit()
        True
    """
    return f"{int(rng.integers(1, 240))} {_pick(rng, _STREETS)}"


def town(rng: np.random.Generator) -> str:
    """A made-up postcode and town.

    Example:
        >>> town(np.random.default_rng(0))[:4].isdigit()
        True
    """
    return f"{int(rng.integers(1000, 99999)):05d} {_pick(rng, _TOWNS)}"


def id_value(
    key: str, ident: Identity, rng: np.random.Generator, date_format: str, doc_code: str
) -> str:
    """The printed value of an ID-card field (empty when the identity has none).

    Args:
        key: Zone content key (``surname``, ``birth_date``, ``address``, ``categories``...).
        ident: The holder.
        rng: Generator for values the identity does not carry (address, categories).
        date_format: One of :data:`~idseg.documents.synth.styles.DATE_FORMATS`.
        doc_code: The document code printed in the ``doc_type`` field.

    Example:
        >>> import datetime as dt
        >>> d = dt.date(1990, 2, 1)
        >>> who = Identity("Eriksson", "Anna", "UTO", "UTO", "F", d, d, d, "L898902C", "", "", "")
        >>> id_value("surname", who, np.random.default_rng(0), "DD.MM.YYYY", "P")
        'ERIKSSON'
    """
    if key in ("birth_date", "expiry_date", "issue_date"):
        return format_date(getattr(ident, key), date_format)
    if key in ("surname", "given_names", "place_of_birth"):
        return str(getattr(ident, key)).upper()
    if key == "sex":
        return "X" if ident.sex == "<" else ident.sex
    if key == "optional_data":
        return ident.optional_data.replace("<", "")
    if key == "doc_type":
        return doc_code
    if key == "address":
        return f"{street_address(rng)}, {town(rng)}".upper()
    if key == "categories":
        n = int(rng.integers(1, 5))
        picks = sorted(rng.choice(len(_CATEGORIES), size=n, replace=False).tolist())
        return " ".join(_CATEGORIES[i] for i in picks)
    return str(getattr(ident, key))


def sentence(rng: np.random.Generator) -> str:
    """A sentence of 6 to 16 words from a neutral vocabulary.

    Example:
        >>> s = sentence(np.random.default_rng(0))
        >>> s[0].isupper() and s.endswith(".")
        True
    """
    words = [_pick(rng, _WORDS) for _ in range(int(rng.integers(6, 17)))]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def paragraph(rng: np.random.Generator, n_words: int) -> list[str]:
    """Words of a paragraph, at least ``n_words`` long.

    Example:
        >>> len(paragraph(np.random.default_rng(0), 30)) >= 30
        True
    """
    words: list[str] = []
    while len(words) < n_words:
        words += sentence(rng).split()
    return words


def page_value(
    key: str, ident: Identity, rng: np.random.Generator, date_format: str, org: str
) -> str:
    """The text of a single-line page field (``letterhead``, ``date``, ``subject``...).

    Example:
        >>> import datetime as dt
        >>> d = dt.date(2024, 5, 6)
        >>> who = Identity("Eriksson", "Anna", "UTO", "UTO", "F", d, d, d, "X1", "", "", "")
        >>> page_value("date", who, np.random.default_rng(0), "YYYY-MM-DD", "Org")
        '2024-05-06'
    """
    if key == "organisation":
        return org
    if key == "org_address":
        return f"{street_address(rng)} · {town(rng)} · Tel. +00 {int(rng.integers(10**6, 10**7))}"
    if key == "date":
        return format_date(ident.issue_date, date_format)
    if key == "subject":
        return f"{_pick(rng, _SUBJECTS)} - Ref. {int(rng.integers(10**5, 10**6))}/{ident.document_number}"
    if key == "signatory":
        return f"{_pick(rng, ('Head of Records', 'Case Officer', 'Customer Services'))}"
    if key == "footer":
        return f"{org} · Registered office: {town(rng)} · This letter was generated for testing purposes"
    raise KeyError(key)


def recipient(ident: Identity, rng: np.random.Generator) -> list[str]:
    """The recipient block of a letter: name, street, town, country code.

    Example:
        >>> import datetime as dt
        >>> d = dt.date(2024, 5, 6)
        >>> who = Identity("Eriksson", "Anna", "UTO", "UTO", "F", d, d, d, "X1", "", "", "")
        >>> recipient(who, np.random.default_rng(0))[0]
        'Anna Eriksson'
    """
    return [ident.full_name, street_address(rng), town(rng), ident.nationality]


def table_rows(
    rng: np.random.Generator, n: int, date_format: str, year: int
) -> list[tuple[str, ...]]:
    """A header and ``n - 1`` rows of reference, description, date and amount.

    Example:
        >>> rows = table_rows(np.random.default_rng(0), 3, "DD/MM/YYYY", 2024)
        >>> len(rows), rows[0][0]
        (3, 'Reference')
    """
    rows: list[tuple[str, ...]] = [_TABLE_HEAD]
    for _ in range(n - 1):
        day = dt.date(year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        amount = f"{rng.integers(1, 2000)}.{int(rng.integers(0, 100)):02d}"
        ref = f"{int(rng.integers(10**5, 10**6))}"
        rows.append((ref, _pick(rng, _ITEMS), format_date(day, date_format), amount))
    return rows
