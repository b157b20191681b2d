"""Deterministic fake identities for synthetic documents.

Names come from the built-in lists of :mod:`idseg.documents.synth.names`; combinations are random,
so no identity refers to a real person.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import numpy as np

from idseg.documents.synth.names import AUTHORITIES, NAME_GROUPS, PLACES, STATE_CODES
from idseg.errors import InputError

logger = logging.getLogger(__name__)

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_ISSUE_FIRST = dt.date(2014, 1, 1)
_ISSUE_LAST = dt.date(2026, 12, 31)
_NUMBER_RE = re.compile(r"[A-Z0-9]+")
_CODE_RE = re.compile(r"[A-Z]{1,3}")
_OPTIONAL_RE = re.compile(r"[A-Z0-9<]*")


@dataclass(frozen=True)
class Identity:
    """The personal and document data printed on one synthetic document.

    Names are stored as printed in the visual zone (mixed case, diacritics allowed); the MRZ
    transliterates them.

    Attributes:
        surname: Primary identifier, e.g. ``"Eriksson"`` or ``"van der Berg"``.
        given_names: Secondary identifier, space-separated names (may be empty).
        nationality: ICAO code, 1 to 3 letters (``"UTO"`` is the ICAO specimen state).
        issuing_state: ICAO code of the issuing state, 1 to 3 letters.
        sex: ``"M"``, ``"F"`` or ``"<"`` (unspecified).
        birth_date: Date of birth.
        expiry_date: Date of expiry.
        issue_date: Date of issue.
        document_number: ``[A-Z0-9]`` characters (random identities use at most 9).
        optional_data: Personal number or other optional data, ``[A-Z0-9<]`` (may be empty).
        place_of_birth: Place of birth as printed.
        authority: Issuing authority as printed.
    """

    surname: str
    given_names: str
    nationality: str
    issuing_state: str
    sex: str
    birth_date: dt.date
    expiry_date: dt.date
    issue_date: dt.date
    document_number: str
    optional_data: str
    place_of_birth: str
    authority: str

    def __post_init__(self) -> None:
        if not self.surname.strip():
            raise InputError("Identity.surname must not be empty")
        if self.sex not in ("M", "F", "<"):
            raise InputError(f"Identity.sex must be 'M', 'F' or '<', got {self.sex!r}")
        for name in ("nationality", "issuing_state"):
            if not _CODE_RE.fullmatch(getattr(self, name)):
                raise InputError(f"Identity.{name} must be 1-3 letters A-Z, got a different value")
        if not _NUMBER_RE.fullmatch(self.document_number):
            raise InputError("Identity.document_number must be one or more characters A-Z, 0-9")
        if not _OPTIONAL_RE.fullmatch(self.optional_data):
            raise InputError("Identity.optional_data must contain only A-Z, 0-9 and '<'")

    @property
    def full_name(self) -> str:
        """Given names then surname, as on a visual zone line.

        Example:
            >>> import datetime as dt
            >>> d = dt.date(2000, 1, 1)
            >>> Identity("Eriksson", "Anna Maria", "UTO", "UTO", "F", d, d, d, "X1", "", "", "").full_name
            'Anna Maria Eriksson'
        """
        return f"{self.given_names} {self.surname}".strip()


def _choice(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _split(names: str) -> list[str]:
    return names.split("|")


def _names(rng: np.random.Generator, sex: str) -> tuple[str, str]:
    female, male, surnames = NAME_GROUPS[int(rng.integers(len(NAME_GROUPS)))]
    pool = _split({"F": female, "M": male}.get(sex, female + "|" + male))
    count = int(rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10]))
    picks = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    given = " ".join(pool[int(i)] for i in picks)
    surname = _choice(rng, _split(surnames))
    if rng.random() < 0.12:  # double-barrelled surname
        other = _choice(rng, _split(surnames))
        if other != surname:
            surname = f"{surname}-{other}"
    if rng.random() < 0.03:  # no secondary identifier
        given = ""
    return surname, given


def _random_date(rng: np.random.Generator, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=int(rng.integers((last - first).days + 1)))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28)


def _dates(rng: np.random.Generator) -> tuple[dt.date, dt.date, dt.date]:
    issue = _random_date(rng, _ISSUE_FIRST, _ISSUE_LAST)
    oldest = _add_years(issue, -80)
    youngest = _add_years(issue, -18)
    birth = _random_date(rng, oldest, youngest)
    years = int(rng.choice([5, 6, 7, 8, 9, 10], p=[0.3, 0.05, 0.05, 0.05, 0.05, 0.5]))
    expiry = _add_years(issue, years)
    if rng.random() < 0.5:
        expiry -= dt.timedelta(days=1)
    return birth, issue, expiry


def _random_chars(rng: np.random.Generator, alphabet: str, count: int) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=count))


def _document_number(rng: np.random.Generator) -> str:
    pattern = int(rng.integers(5))
    if pattern == 0:  # two letters, seven digits
        return _random_chars(rng, _LETTERS, 2) + _random_chars(rng, _DIGITS, 7)
    if pattern == 1:  # one letter, eight digits
        return _random_chars(rng, _LETTERS, 1) + _random_chars(rng, _DIGITS, 8)
    if pattern == 2:  # nine digits
        return _random_chars(rng, _DIGITS, 9)
    if pattern == 3:  # eight mixed characters (a filler follows in the MRZ)
        return _random_chars(rng, _LETTERS + _DIGITS, 8)
    return _random_chars(rng, _LETTERS, 1) + _random_chars(rng, _LETTERS + _DIGITS, 8)


def _optional_data(rng: np.random.Generator) -> str:
    if rng.random() < 0.4:
        return ""
    length = int(rng.integers(5, 15))
    return _random_chars(rng, _LETTERS[:6], 2) + _random_chars(rng, _DIGITS, length - 2)


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw a fake identity; the same generator state gives the same identity.

    Birth dates lie 18 to 80 years before the issue date, expiry dates 5 to 10 years after it.

    Args:
        rng: NumPy random generator (consumed).

    Returns:
        The identity.

    Example:
        >>> import numpy as np
        >>> a = random_identity(np.random.default_rng(7))
        >>> a == random_identity(np.random.default_rng(7))
        True
        >>> a.sex in ("M", "F", "<") and len(a.document_number) <= 9
        True
    """
    sex = str(rng.choice(["F", "M", "<"], p=[0.48, 0.48, 0.04]))
    surname, given = _names(rng, sex)
    birth, issue, expiry = _dates(rng)
    issuing = _choice(rng, STATE_CODES)
    nationality = issuing if rng.random() < 0.85 else _choice(rng, STATE_CODES)
    return Identity(
        surname=surname,
        given_names=given,
        nationality=nationality,
        issuing_state=issuing,
        sex=sex,
        birth_date=birth,
        expiry_date=expiry,
        issue_date=issue,
        document_number=_document_number(rng),
        optional_data=_optional_data(rng),
        place_of_birth=_choice(rng, PLACES),
        authority=_choice(rng, AUTHORITIES),
    )
