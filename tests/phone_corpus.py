"""A deterministic corpus of typed phone numbers, and the reference verdict on each.

:func:`corpus` builds tens of thousands of inputs from a fixed seed: phonenumbers' example
numbers of every region and number type in E.164, international and national form, with
digits changed, dropped and added; random national numbers of every possible length ± 1
behind every region's leading digits; Indian mobiles and landlines written with ``0``,
``+91``, ``91``, ``0091``, spaces, dashes and brackets; ``sip:`` ids; too long and too short
strings; letters, Unicode digits, whitespace, control characters and hostile strings.

:func:`reference` is :func:`dialer.phone.normalize` as it was before the fast path (every
number through ``phonenumbers.parse`` + ``is_valid_number``), kept verbatim: the verdicts
(and messages) the fast path must give.
"""

from __future__ import annotations

import random
import re
from typing import NoReturn

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from dialer.errors import InvalidNumberError

SEED = 18
SEPARATORS = " -./()"

# --- the reference: dialer.phone.normalize before the fast path, verbatim -----------------

MAX_NUMBER_CHARS = 32
_TYPED_NUMBER = re.compile(r"^\+?[0-9(][0-9 ()./-]*$")
_SIP_ID = re.compile(r"^(?i:sip):[A-Za-z0-9._~+!$&'*=-]+(@[A-Za-z0-9.-]+(:[0-9]{1,5})?)?$")


def _invalid(field: str, value: object, reason: str = "is not a valid phone number") -> NoReturn:
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
    raise InvalidNumberError(f"{field}: {shown!r} {reason}", field=field)


def _has_control_chars(value: str) -> bool:
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value)


def reference(number: str, *, field: str = "number", region: str = "IN",
              allow_sip: bool = False) -> str:
    if not isinstance(number, str):
        _invalid(field, number, "is not a string")
    value = number.strip()
    if not value:
        _invalid(field, number, "is empty")
    if len(value) > MAX_NUMBER_CHARS:
        _invalid(field, number, f"is longer than {MAX_NUMBER_CHARS} characters")
    if _has_control_chars(value):
        _invalid(field, number, "contains control characters")
    if value[:4].lower() == "sip:":
        if allow_sip and _SIP_ID.match(value):
            return value
        reason = "is not a valid SIP id" if allow_sip else "is a SIP id; this field takes a number"
        _invalid(field, number, reason)
    if not _TYPED_NUMBER.match(value):
        _invalid(field, number)
    try:
        parsed = phonenumbers.parse(value, region)
    except NumberParseException:
        _invalid(field, number)
    if not phonenumbers.is_valid_number(parsed):
        _invalid(field, number)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


# --- the corpus ----------------------------------------------------------------------------

_TYPES = [t for t in vars(PhoneNumberType).values()
          if isinstance(t, int) and t not in (PhoneNumberType.UNKNOWN,)]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _mutations(rng: random.Random, digits: str) -> list[str]:
    """``digits`` with one digit changed, dropped, added; and with its tail randomised."""
    out = []
    if digits:
        i = rng.randrange(len(digits))
        out.append(digits[:i] + rng.choice("0123456789") + digits[i + 1:])
        out.append(digits[:-1])
        out.append(digits[:i] + digits[i + 1:])
    out.append(digits + rng.choice("0123456789"))
    keep = rng.randrange(1, max(2, len(digits)))
    out.append(digits[:keep] + _digits(rng, len(digits) - keep))
    return out


def _spaced(rng: random.Random, digits: str) -> str:
    """``digits`` with separators put in at random places."""
    out = []
    for ch in digits:
        out.append(ch)
        if rng.random() < 0.25:
            out.append(rng.choice([" ", "-", " ", ".", "/", "  ", " - "]))
    return "".join(out).strip(" -./")


def _examples() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(example)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.append(example)
    return found


def _world(rng: random.Random) -> list[str]:
    out = []
    for example in _examples():
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        cc, nsn = str(example.country_code), e164[1 + len(str(example.country_code)):]
        out += [e164, phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL),
                phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL), nsn, cc + nsn,
                "00" + cc + nsn, "+" + cc + "0" + nsn, "+" + cc + " " + _spaced(rng, nsn)]
        for mutated in _mutations(rng, nsn):
            out += ["+" + cc + mutated, mutated]
        # random numbers behind the example's first digits, every nearby length
        for keep in (1, 2, 3, 4):
            for length in range(max(keep, len(nsn) - 2), len(nsn) + 3):
                for _ in range(2):
                    out.append("+" + cc + nsn[:keep] + _digits(rng, length - keep))
    return out


def _india(rng: random.Random) -> list[str]:
    out = []
    for _ in range(2500):
        first = rng.choice("6789" * 4 + "0123459")
        mobile = first + _digits(rng, 9)
        out += [mobile, "0" + mobile, "91" + mobile, "+91" + mobile, "0091" + mobile,
                "+91 " + mobile[:5] + " " + mobile[5:], "+91-" + mobile[:5] + "-" + mobile[5:],
                "0" + mobile[:5] + " " + mobile[5:], "+91 (0)" + mobile, "+910" + mobile,
                "(+91) " + mobile, "+(91) " + mobile, _spaced(rng, rng.choice(["", "0", "91",
                                                                               "+91"]) + mobile)]
    for _ in range(1500):  # STD landlines: 0 + area code (2-4 digits) + subscriber number
        std = str(rng.randrange(11, 9999))
        local = _digits(rng, 10 - len(std))
        out += ["0" + std + local, f"0{std} {local}", f"(0{std}) {local[:4]}-{local[4:]}",
                f"+91 {std} {local}", std + local, "91" + std + local, f"0{std}-{local}"]
    for _ in range(1500):  # 91-leading numbers: country code or first digits?
        rest = _digits(rng, rng.choice([7, 8, 9, 10, 11, 12]))
        out += ["91" + rest, "091" + rest, "+91" + rest, "9191" + rest]
    for n in range(1, 20):  # every length, each a handful of times
        for _ in range(40):
            body = _digits(rng, n)
            out += [body, "+" + body, "0" + body, "+91" + body]
    return out


def _sip(rng: random.Random) -> list[str]:
    users = ["agent", "agent.42", "a+b", "x_y~z", "!$&'*=-", "user name", "üser", ""]
    hosts = ["", "@example.com", "@10.0.0.1:5060", "@host:99999", "@bad_host", "@", "@a.b:1"]
    out = []
    for user in users:
        for host in hosts:
            for scheme in ("sip:", "SIP:", "Sip:", "sips:"):
                out.append(scheme + user + host)
    out += ["sip:" + "a" * 40, "sip:+919876543210", "sip:09876543210@pbx", "sip :agent"]
    for _ in range(200):
        out.append("sip:" + "".join(rng.choice("abc019.@:-_+!") for _ in range(rng.randrange(12))))
    return out


def _odd(rng: random.Random) -> list[str]:
    out = ["", " ", "\t", "\n", "\u00a0", "\u2003", "   ", "+", "++", "++919876543210",
           "+-919876543210", "-", "--", "()", "(", ")", "0", "00", "000", "0000000000", "+0",
           "+00", "+000000", "+00919876543210", "0000919876543210", "12ab", "0XXXXXX4890",
           "1800-FLOWERS", "+1 800 FLOWERS", "1-800-356-9377", "+91 98765 43210 ext 5",
           "+91 98765 43210 x5", "+91 98765 43210#", "+919876543210;ext=5",
           "tel:+919876543210", "+919876543210;phone-context=+91", "98765 43210 / 98765 43211",
           "+91 98765\n43210", "+91\x0098765", "+91\x7f98765", "+91\x9f98765",
           "98765\u200b43210", "\u202e9876543210", "+91 98765\u00a043210", "９８７６５４３２１０",
           "०९८७६५४३२१०", "+٩١٩٨٧٦٥٤٣٢١٠", "+91 ９８７６５４３２１０", "\ud800", "98765\udc0043210",
           "'; DROP TABLE calls; --", "<script>alert(1)</script>", "${jndi:ldap://x}",
           "%00", "../../etc/passwd", "NaN", "None", "null", "undefined", "1e10", "-9876543210",
           "9876543210.0", "+91.98765.43210", "+91/98765/43210", "(0)9876543210",
           "((+91)) 9876543210", "+91 ((98765)) 43210", "9" * 32, "9" * 33, " " + "9" * 32,
           "+" + "9" * 31, "+" + "1" * 32, "0" * 32, "+91" + " " * 20 + "9876543210"]
    alphabet = "0123456789" * 3 + " -+()./#xX*,;:~\t\u00a0abc٩९９"
    for _ in range(3000):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 36))))
    for _ in range(2000):  # mostly digits and separators, any length
        out.append("".join(rng.choice("0123456789 -()./") for _ in range(rng.randrange(1, 40))))
    for n in range(1, 41):
        out += ["9" * n, "+9" + "1" * (n - 1), " " * n + "98765" + " " * n]
    return out


def corpus(seed: int = SEED) -> list[str]:
    """Every input, in a fixed order (the same on every run), duplicates removed."""
    rng = random.Random(seed)
    items = _world(rng) + _india(rng) + _sip(rng) + _odd(rng)
    return list(dict.fromkeys(items))


def verdict(fn: object, number: object, **kw: object) -> tuple[str, str]:
    """("ok", E.164) or ("refused", the error's message and field) of ``fn(number, **kw)``."""
    try:
        return "ok", fn(number, **kw)  # type: ignore[operator]
    except InvalidNumberError as exc:
        return "refused", f"{exc.field}|{exc}"
