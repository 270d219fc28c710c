"""Phone numbers: parse what people type, send E.164, and know a number's time zone.

:func:`normalize` is the one gate every From/To goes through. It accepts E.164
(``+919876543210``), Indian local forms (``09876543210``, ``9876543210``, STD landlines
such as ``080 3075 2400``) and, when asked, ``sip:`` ids; anything else raises
:class:`~dialer.errors.InvalidNumberError` naming the field and the value. Parsing and
validation follow the ``phonenumbers`` library, never hand-written patterns: the usual
shapes are answered by :mod:`dialer.phone_plan` (phonenumbers' metadata compiled; the same
verdicts, held to them by tests/test_phone_corpus.py), anything else by phonenumbers
itself, and verdicts are cached by the typed string (agents' numbers repeat).
"""

from __future__ import annotations

import re
from typing import NoReturn

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import timezone as pn_timezone

from dialer import phone_plan
from dialer.errors import InvalidNumberError

MAX_NUMBER_CHARS = 32
# What a typed phone number may contain before phonenumbers looks at it: digits, one
# leading "+", and the usual separators. Letters (vanity numbers) are refused.
_TYPED_NUMBER = re.compile(r"^\+?[0-9(][0-9 ()./-]*$")
# A SIP id: "sip:" then a user[@host[:port]] made of URI-safe characters.
_SIP_ID = re.compile(r"^(?i:sip):[A-Za-z0-9._~+!$&'*=-]+(@[A-Za-z0-9.-]+(:[0-9]{1,5})?)?$")
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")
_UNKNOWN_ZONE = "Etc/Unknown"
VERDICT_CACHE_SIZE = 16384  # typed numbers whose verdict is kept (agents, repeated contacts)


def _invalid(field: str, value: object, reason: str = "is not a valid phone number") -> NoReturn:
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
    raise InvalidNumberError(f"{field}: {shown!r} {reason}", field=field)


def _has_control_chars(value: str) -> bool:
    return _CONTROL_CHARS.search(value) is not None


def reference_e164(typed: str, region: str) -> str | None:
    """phonenumbers' own verdict on a typed number: its E.164 form, or ``None``."""
    try:
        parsed = phonenumbers.parse(typed, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


# Verdicts by region and typed string: a dict emptied when it holds VERDICT_CACHE_SIZE
# (a hit or a miss costs a dict look-up, where an LRU's bookkeeping cost more than a
# fresh verdict of the usual shapes; the numbers that repeat come back at once).
_VERDICTS: dict[str, dict[str, str | None]] = {}
_UNKNOWN = object()


def clear_verdicts() -> None:
    """Forget every remembered verdict (tests: every verdict computed afresh)."""
    _VERDICTS.clear()


def _e164(typed: str, region: str) -> str | None:
    known = _VERDICTS.get(region)
    if known is None:
        known = _VERDICTS[region] = {}
    verdict = known.get(typed, _UNKNOWN)  # (a KeyError raised per miss costs more)
    if verdict is not _UNKNOWN:
        return verdict  # type: ignore[return-value]
    fast = phone_plan.e164(typed, region)
    if fast is phone_plan.UNSURE:
        fast = reference_e164(typed, region)
    assert fast is None or isinstance(fast, str)
    if len(known) >= VERDICT_CACHE_SIZE:
        known.clear()
    known[typed] = fast
    return fast


def normalize(
    number: str, *, field: str = "number", region: str = "IN", allow_sip: bool = False
) -> str:
    """Return ``number`` in E.164 (or the ``sip:`` id itself when ``allow_sip``).

    ``region`` is the country assumed for numbers written without a ``+`` country code.
    Raises :class:`InvalidNumberError` (``.field`` = ``field``) for anything that is not
    a valid, dialable number: empty, longer than 32 characters, control characters,
    letters, or a number ``phonenumbers`` does not consider valid.
    """
    if not isinstance(number, str):
        _invalid(field, number, "is not a string")
    value = number.strip()
    if not value:
        _invalid(field, number, "is empty")
    if len(value) > MAX_NUMBER_CHARS:
        _invalid(field, number, f"is longer than {MAX_NUMBER_CHARS} characters")
    if not _TYPED_NUMBER.match(value):  # (a typed number has no control chars, no "sip:")
        if _has_control_chars(value):
            _invalid(field, number, "contains control characters")
        if value[:4].lower() == "sip:":
            if allow_sip and _SIP_ID.match(value):
                return value
            reason = ("is not a valid SIP id" if allow_sip
                      else "is a SIP id; this field takes a number")
            _invalid(field, number, reason)
        _invalid(field, number)
    e164 = _e164(value, region)
    if e164 is None:
        _invalid(field, number)
    return e164


def to_exotel_local(e164: str) -> str:
    """Indian numbers in Exotel's local form (``09876543210``); others unchanged.

    SIP ids are returned as they are. Raises :class:`InvalidNumberError` for a value
    that is not a valid number.
    """
    if e164[:4].lower() == "sip:":
        return e164
    parsed = phonenumbers.parse(normalize(e164, field="number"), None)
    if parsed.country_code != 91:
        return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    return re.sub(r"\D", "", national)


def timezone_of(e164: str) -> str | None:
    """The IANA time zone of a number (the first one ``phonenumbers`` knows), or ``None``.

    ``None`` for SIP ids, unparsable values and numbers without a known zone; never raises.
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN_ZONE]
    return zones[0] if zones else None
