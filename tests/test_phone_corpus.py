"""The fast number path gives phonenumbers' verdicts: the same E.164, the same refusals.

Every item of the corpus (tests/phone_corpus.py: tens of thousands of generated valid,
invalid and odd inputs) goes through :func:`dialer.phone.normalize` and through the
reference (the phonenumbers-only normalize it replaced); the two must agree exactly, in
the result or in the error's message and field.
"""

from __future__ import annotations

import functools

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from dialer import phone, phone_plan
from tests.phone_corpus import corpus, reference, verdict

CORPUS = corpus()


@functools.cache
def expected() -> list[tuple[str, str]]:
    """The reference verdict on every item (computed once: it is the slow part)."""
    return [verdict(reference, n) for n in CORPUS]


def _fresh() -> None:
    phone.clear_verdicts()  # every verdict computed, none remembered from other tests


def test_corpus_is_large_varied_and_deterministic() -> None:
    assert len(CORPUS) >= 30_000
    assert corpus() == CORPUS
    outcomes = [outcome for outcome, _ in expected()]
    assert outcomes.count("ok") > len(outcomes) // 5
    assert outcomes.count("refused") > len(outcomes) // 5


def test_normalize_agrees_with_phonenumbers_on_every_item() -> None:
    _fresh()
    wrong = [(n, got, want) for n, want in zip(CORPUS, expected(), strict=True)
             if (got := verdict(phone.normalize, n)) != want]
    assert wrong == []


def test_the_fast_path_answers_most_items_itself() -> None:
    # the reference would agree trivially if everything fell back to phonenumbers
    typed = [(n.strip(), want) for n, want in zip(CORPUS, expected(), strict=True)
             if phone._TYPED_NUMBER.match(n.strip() or "x")
             and len(n.strip()) <= phone.MAX_NUMBER_CHARS]
    answers = [(n, phone_plan.e164(n, "IN"), want) for n, want in typed]
    answered = [(n, got, want) for n, got, want in answers if got is not phone_plan.UNSURE]
    assert len(answered) > 0.9 * len(typed)
    wrong = [(n, got, want) for n, got, want in answered
             if (got is None) != (want[0] == "refused") or (got is not None and got != want[1])]
    assert wrong == []


@pytest.mark.parametrize("region", ["US", "GB", "SG", "AE", "IT", "AR", "MX", "RU", "in", "ZZ"])
def test_other_default_regions_agree(region: str) -> None:
    _fresh()
    items = CORPUS[:: 23]
    wrong = [n for n in items
             if verdict(phone.normalize, n, region=region)
             != verdict(reference, n, region=region)]
    assert wrong == []


def test_sip_ids_agree_when_allowed() -> None:
    items = [n for n in CORPUS if "sip" in n.lower()] + CORPUS[::50]
    wrong = [n for n in items if verdict(phone.normalize, n, allow_sip=True, field="From")
             != verdict(reference, n, allow_sip=True, field="From")]
    assert wrong == []


@pytest.mark.parametrize("value", [None, 9876543210, b"09876543210", ["+919876543210"], 1.5])
def test_non_strings_agree(value: object) -> None:
    assert verdict(phone.normalize, value) == verdict(reference, value)


def test_cached_verdicts_are_the_same_as_fresh_ones() -> None:
    _fresh()
    items = CORPUS[:: 13]
    first = [verdict(phone.normalize, n) for n in items]
    again = [verdict(phone.normalize, n) for n in items]
    assert first == again


def test_plan_matches_phonenumbers_number_types_for_every_region() -> None:
    """valid() against is_valid_number on every example number and its neighbours."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
                     PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            nsn = phonenumbers.national_significant_number(example)
            for candidate in (nsn, nsn[:-1], nsn + "0", "9" + nsn[1:], nsn[:2] + "0" * 6):
                parsed = phonenumbers.parse("+" + str(example.country_code) + candidate, None)
                ours = phone_plan.valid(example.country_code,
                                        phonenumbers.national_significant_number(parsed))
                assert ours == phonenumbers.is_valid_number(parsed), (region, candidate)
                checked += 1
    assert checked > 1000
