"""dialer.phone: normalisation to E.164, Exotel's local form, time zones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.errors import InvalidNumberError, ValidationError
from dialer.phone import normalize, reference_e164, timezone_of, to_exotel_local


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+919876543210", "+919876543210"),
        ("09876543210", "+919876543210"),  # 0 + 10-digit mobile
        ("9876543210", "+919876543210"),  # bare mobile
        ("08030752400", "+918030752400"),  # STD code landline
        ("080 3075 2400", "+918030752400"),
        ("080-3075-2400", "+918030752400"),
        ("(080) 3075-2400", "+918030752400"),
        ("+91 98765 43210", "+919876543210"),
        ("+91-98765-43210", "+919876543210"),
        ("00919876543210", "+919876543210"),  # international prefix from India
        ("  09876543210  ", "+919876543210"),  # surrounding blanks
        ("02241499102", "+912241499102"),  # Mumbai landline (seed 002's ExoPhone)
        ("+14155550100", "+14155550100"),  # not Indian: kept in E.164
        ("+6565550100".replace("655501", "612345"), "+6561234500"),  # Singapore landline
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("12ab", "is not a valid phone number"),
        ("0XXXXXX4890", "is not a valid phone number"),  # the docs' placeholder
        ("1800-FLOWERS", "is not a valid phone number"),  # letters are refused
        ("12345", "is not a valid phone number"),
        ("+91", "is not a valid phone number"),
        ("+9198765432101234", "is not a valid phone number"),
        ("0987654321", "is not a valid phone number"),  # 0 + 9 digits
        ("+91 98765\n43210", "contains control characters"),
        ("+91\x0098765", "contains control characters"),
        ("9" * 33, "is longer than 32 characters"),
        ("++919876543210", "is not a valid phone number"),
        ("+91 98765 43210 ext 5", "is not a valid phone number"),
        ("sip:agent@example.com", "is a SIP id"),  # allow_sip is off by default
    ],
)
def test_normalize_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize(raw, field="To")
    assert info.value.field == "To"
    assert str(info.value).startswith("To: ")
    assert reason in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_error_message_names_field_and_value() -> None:
    with pytest.raises(InvalidNumberError, match=r"^To: '12ab' is not a valid phone number$"):
        normalize("12ab", field="To")


def test_error_message_truncates_long_values() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize("9" * 500, field="From")
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("raw", [None, 9876543210, b"09876543210", ["+919876543210"]])
def test_normalize_refuses_non_strings(raw: object) -> None:
    with pytest.raises(InvalidNumberError, match="is not a string"):
        normalize(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw", ["sip:agent1", "sip:vikassffbbfc17", "sip:agent.1@pbx.example.com:5060", "SIP:a_b"]
)
def test_sip_ids_when_allowed(raw: str) -> None:
    assert normalize(raw, allow_sip=True) == raw


@pytest.mark.parametrize("raw", ["sip:", "sip:a b", "sip:a@", "sip:a@host:999999", "sip:<x>"])
def test_bad_sip_ids(raw: str) -> None:
    with pytest.raises(InvalidNumberError, match="not a valid SIP id"):
        normalize(raw, field="from.contact_uri", allow_sip=True)


def test_region_changes_the_assumed_country() -> None:
    assert normalize("(415) 555-0100", region="US") == "+14155550100"
    assert normalize("09876543210", region="IN") == "+919876543210"
    with pytest.raises(InvalidNumberError):
        normalize("09876543210", region="US")


@pytest.mark.parametrize(
    ("e164", "local"),
    [
        ("+919876543210", "09876543210"),
        ("+918030752400", "08030752400"),
        ("+911800123456", "1800123456"),  # toll-free numbers have no trunk 0
        ("+14155550100", "+14155550100"),
        ("sip:agent1", "sip:agent1"),
    ],
)
def test_to_exotel_local(e164: str, local: str) -> None:
    assert to_exotel_local(e164) == local


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+919876543210", "Asia/Calcutta"),
        ("+14155550100", "America/Los_Angeles"),
        ("+6561234500", "Asia/Singapore"),
        ("sip:agent1", None),
        ("not a number", None),
        ("+80012345678", None),  # international freephone: no zone
    ],
)
def test_timezone_of(number: str, zone: str | None) -> None:
    assert timezone_of(number) == zone


_number_like = st.text(alphabet="0123456789 +-().", max_size=40)
_anything = st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_number_like, _anything, st.from_regex(r"\A(sip|SIP):.{0,30}\Z")))
def test_normalize_raises_only_invalid_number_error(raw: str) -> None:
    try:
        result = normalize(raw, field="To", allow_sip=True)
    except InvalidNumberError as exc:
        assert exc.field == "To"
        return
    assert result.startswith(("+", "sip:", "SIP:", "Sip:", "sIP:", "sIp:", "siP:", "SiP:"))
    assert normalize(result, field="To", allow_sip=True) == result  # idempotent


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[6-9][0-9]{9}\Z"))
def test_every_indian_mobile_form_gives_the_same_e164(mobile: str) -> None:
    try:
        expected = normalize("+91" + mobile)
    except InvalidNumberError:
        return  # a range phonenumbers does not consider allocated
    assert normalize(mobile) == expected
    assert normalize("0" + mobile) == expected
    assert normalize(f"0{mobile[:5]} {mobile[5:]}") == expected
    assert to_exotel_local(expected) == "0" + mobile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+9109876543210", "+919876543210"),  # national prefix after the country code
        ("+91 (0) 98765 43210", "+919876543210"),
        ("919876543210", "+919876543210"),  # 91 read as the country code
        ("9123456789", "+919123456789"),  # a mobile that starts with 91 stays one
        ("+390612345678", "+390612345678"),  # Italy keeps its leading zero
        ("+44 7400 123456", "+447400123456"),
        ("+7 701 123 4567", "+77011234567"),  # Kazakhstan shares +7 with Russia
        ("+800 1234 5678", "+80012345678"),  # non-geographic (freephone)
    ],
)
def test_fast_path_shapes_agree_with_phonenumbers(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert reference_e164(raw.strip(), "IN") == expected


@pytest.mark.parametrize("raw", ["0919876543210", "+999 123 4567", "+0919876543210"])
def test_fast_path_refusals_agree_with_phonenumbers(raw: str) -> None:
    with pytest.raises(InvalidNumberError, match="is not a valid phone number"):
        normalize(raw)
    assert reference_e164(raw, "IN") is None


def test_a_cached_verdict_is_the_same_verdict() -> None:
    assert normalize("098765 43210") == normalize("098765 43210") == "+919876543210"
    for _ in range(2):
        with pytest.raises(InvalidNumberError, match="'0987654321' is not a valid"):
            normalize("0987654321", field="To")
