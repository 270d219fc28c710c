"""Fast phone-number verdicts: phonenumbers' own metadata, compiled, for the common shapes.

:func:`dialer.phone.normalize` answers the same as ``phonenumbers.parse`` followed by
``is_valid_number`` and ``format_number(…, E164)``; those take ~100 µs a number, most of it
walking the input character by character and trying up to eleven number-type patterns one
by one. For what :data:`dialer.phone` lets through (ASCII digits, one leading ``+``, the
separators `` ()./-``), phonenumbers' answer depends only on whether there is a ``+`` and on
the digits (separators are dropped before any digit logic, and none of them can start an
extension), so :func:`e164` works on those: it follows ``parse`` step by step with the
library's own helpers for national-prefix stripping and length tests, and replaces only the
costly parts with equivalents built from the same metadata (per region and length, one
pattern that is the alternation of every number type's pattern: a full match of it is a full
match of one of them). Whatever it is not sure of — an international dialling prefix, a
``+`` without a known country code, fewer than 4 or more than 17 digits, a region without
metadata — it hands back :data:`UNSURE`, and the caller asks phonenumbers itself.

tests/test_phone_corpus.py holds it to phonenumbers' verdict and output on tens of
thousands of generated inputs (every country, Indian local forms, odd and hostile strings).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, PhoneMetadata
from phonenumbers import phonenumberutil as pnu

UNSURE: Final = object()  # "ask phonenumbers": not a shape this module answers for
MIN_DIGITS = 4
MAX_DIGITS = 17  # phonenumbers' longest national significant number
_NON_GEO = "001"
_TYPE_DESCS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
               "pager", "uan", "voicemail", "fixed_line")
_DROP = str.maketrans("", "", "+ ()./-")
_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
_NOT_STRIPPED = (pnu.ValidationResult.TOO_SHORT, pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
                 pnu.ValidationResult.INVALID_LENGTH)


def _pattern(desc: Any) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return str(desc.national_number_pattern)


class _Plan:
    """One region's (or non-geographic code's) numbering plan: "is this a number of some
    known type?" (phonenumbers' ``_number_type_helper(nsn, metadata) != UNKNOWN``): the
    general pattern (as a look-ahead) and, for each length, the alternation of the
    patterns of every type with that length, in one regular expression."""

    def __init__(self, metadata: Any) -> None:
        self._general = _pattern(metadata.general_desc)
        self._general_lengths = frozenset(metadata.general_desc.possible_length)
        names = list(_TYPE_DESCS)
        if not metadata.same_mobile_and_fixed_line_pattern:
            names.append("mobile")  # phonenumbers looks at mobile only then
        self._types = [(getattr(metadata, n), _pattern(getattr(metadata, n))) for n in names]
        self._by_length: dict[int, re.Pattern[str] | None] = {}

    def _compiled(self, length: int) -> re.Pattern[str] | None:
        if self._general is None or (self._general_lengths
                                     and length not in self._general_lengths):
            return None
        typed = [p for desc, p in self._types
                 if p is not None and (not desc.possible_length
                                       or length in desc.possible_length)]
        if not typed:
            return None
        alternatives = "|".join(f"(?:{p})" for p in typed)
        return re.compile(f"(?=(?:{self._general})\\Z)(?:{alternatives})")

    def known(self, nsn: str) -> bool:
        length = len(nsn)
        try:
            pattern = self._by_length[length]
        except KeyError:
            pattern = self._by_length[length] = self._compiled(length)
        return pattern is not None and pattern.fullmatch(nsn) is not None


def _plan_for(country_code: int, region: str) -> _Plan | None:
    """The plan is_valid_number_for_region checks a number of ``country_code`` against."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None:
        return None
    if region != _NON_GEO:
        own = PhoneMetadata.metadata_for_region(region.upper(), None)
        if own is None or own.country_code != country_code:
            return None
    return _Plan(metadata)


class _Country:
    """A calling code: the metadata parse reads its numbers with, and is_valid_number."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.metadata = PhoneMetadata.metadata_for_region_or_calling_code(
            code, pnu.region_code_for_country_code(code))
        self.national_prefix = (_NationalPrefix(self.metadata)
                                if self.metadata is not None else None)
        regions = [str(r) for r in COUNTRY_CODE_TO_REGION_CODE.get(code, ())]
        self._single = _plan_for(code, regions[0]) if len(regions) == 1 else None
        # several regions share the code: the first whose leading digits match (or, with
        # none, whose plan knows the number) is the number's region
        self._regions: list[tuple[re.Pattern[str] | None, _Plan | None, _Plan | None]] = []
        for region in regions if len(regions) > 1 else ():
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue
            leading = metadata.leading_digits
            self._regions.append((re.compile(leading) if leading is not None else None,
                                  None if leading is not None else _Plan(metadata),
                                  _plan_for(code, region)))

    def valid(self, nsn: str) -> bool:
        """phonenumbers' ``is_valid_number`` for a national significant number."""
        if not self._regions:
            return self._single is not None and self._single.known(nsn)
        for leading, detect, plan in self._regions:
            if leading.match(nsn) if leading is not None else detect.known(nsn):  # type: ignore[union-attr]
                return plan is not None and plan.known(nsn)
        return False


@cache
def _country(code: int) -> _Country:
    return _Country(code)


class _Region:
    """A default region: how numbers written without "+" are read there."""

    def __init__(self, region: str, metadata: Any) -> None:
        self.metadata = metadata
        # parse takes the region for numbers without "+" only when spelt as it knows it
        self.known = region in SUPPORTED_REGIONS
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd is not None else None
        self.own = str(metadata.country_code)
        self.country = _country(metadata.country_code)
        self.national_prefix: _NationalPrefix | None = _NationalPrefix(metadata)


@cache
def _region(region: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None) if region else None
    return _Region(region, metadata) if metadata is not None else None


def valid(country_code: int, nsn: str) -> bool:
    """phonenumbers' ``is_valid_number`` for a parsed number (``nsn``: its national
    significant number, leading zeros included)."""
    if country_code not in COUNTRY_CODE_TO_REGION_CODE:
        return False
    return _country(country_code).valid(nsn)


class _NationalPrefix:
    """parse's national prefix (and carrier code) stripping for one metadata: phonenumbers'
    ``_maybe_strip_national_prefix_carrier_code`` then its length test, from the metadata
    compiled once (its general pattern: ``_match_national_number`` of a digit string is
    its full match; ``_test_number_length`` depends on the length alone, so it is kept by
    length); phonenumbers' own code for a metadata with a transform rule."""

    def __init__(self, metadata: Any) -> None:
        self.metadata = metadata
        prefix = metadata.national_prefix_for_parsing
        self.pattern = re.compile(prefix) if prefix else None
        general = _pattern(metadata.general_desc)
        self.general = re.compile(general) if general is not None else None
        self.transform = bool(metadata.national_prefix_transform_rule)
        self._lengths: dict[int, Any] = {}

    def strip(self, nsn: str) -> str:
        found = self.pattern.match(nsn) if self.pattern is not None else None
        if found is None:
            return nsn
        if self.general is None or self.transform:
            _, stripped, _ = pnu._maybe_strip_national_prefix_carrier_code(nsn, self.metadata)
        else:  # the prefix dropped unless only the whole is viable
            stripped = nsn[found.end():]
            if (self.general.fullmatch(nsn) is not None
                    and self.general.fullmatch(stripped) is None):
                stripped = nsn
        return nsn if self._length_test(stripped) in _NOT_STRIPPED else stripped

    def _length_test(self, nsn: str) -> Any:
        try:
            return self._lengths[len(nsn)]
        except KeyError:
            verdict = self._lengths[len(nsn)] = pnu._test_number_length(nsn, self.metadata)
            return verdict


def _code_of(head: str) -> tuple[_Country, int] | None:
    """The country code a number written with "+" starts with (its first three digits
    ``head``), and its length; ``None`` without one."""
    for n in (1, 2, 3):
        if head[:n] in _CODES:
            return _country(int(head[:n])), n
    return None


_CODE_OF: dict[str, tuple[_Country, int] | None] = {}  # _code_of by the first three digits


def _parse(plus: bool, digits: str, home: _Region) -> tuple[_Country, str] | object:
    """``phonenumbers.parse`` of a typed number: (its country, national significant
    number), ``None`` for a parse error, or :data:`UNSURE`."""
    if plus:
        head = digits[:3]
        try:
            found = _CODE_OF[head]
        except KeyError:
            found = _CODE_OF[head] = _code_of(head)
        if found is None:
            return UNSURE  # no country code: parse then retries without the "+"
        country, nsn = found[0], digits[found[1]:]
        metadata, prefix = country.metadata, country.national_prefix
    else:
        if not home.known:
            return UNSURE  # parse refuses the region ("in" for "IN")
        if home.idd is not None and home.idd.match(digits):
            return UNSURE  # an international dialling prefix (00 from India)
        country, nsn = home.country, digits
        metadata, prefix = home.metadata, home.national_prefix
        if digits.startswith(home.own):  # e.g. 91 9876543210: is the 91 a country code?
            default = home.metadata
            general = default.general_desc
            _, rest, _ = pnu._maybe_strip_national_prefix_carrier_code(digits[len(home.own):],
                                                                       default)
            if ((not pnu._match_national_number(digits, general, False)
                 and pnu._match_national_number(rest, general, False))
                    or pnu._test_number_length(digits, default)
                    == pnu.ValidationResult.TOO_LONG):
                nsn = rest
                metadata, prefix = country.metadata, country.national_prefix
    if metadata is None or prefix is None:
        return UNSURE
    if len(nsn) < 2:
        return None
    nsn = prefix.strip(nsn)
    if not 2 <= len(nsn) <= MAX_DIGITS:
        return None
    return country, nsn


def e164(typed: str, region: str) -> str | None | object:
    """The E.164 form of ``typed`` (already known to hold only ASCII digits, separators and
    at most one leading ``+``), ``None`` when phonenumbers would refuse it, or
    :data:`UNSURE`."""
    plus = typed[0] == "+"
    digits = typed[1:] if plus else typed
    if not digits.isdigit():  # (typed holds ASCII only) separators to drop
        digits = typed.translate(_DROP)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return UNSURE
    home = _region(region)
    if home is None:
        return UNSURE
    parsed = _parse(plus, digits, home)
    if not isinstance(parsed, tuple):
        return parsed  # None (refused) or UNSURE
    country, nsn = parsed
    # parse keeps leading zeros of the NSN (italian_leading_zero), so nsn is also the
    # national significant number format_number writes after the country code
    return f"+{country.code}{nsn}" if country.valid(nsn) else None
