"""dialer.exotel.form: the same bytes as urllib's urlencode (what requests sends)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest

from dialer.exotel.form import _quoted, form_body

ALPHABET = [chr(c) for c in range(300)] + ["é", "नम", "\U0001F4DE", " ", "+", "%", "&", "="]


def text(rnd: random.Random, most: int) -> str:
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, most)))


def test_a_value_is_quoted_as_quote_plus_quotes_it() -> None:
    rnd = random.Random(18)
    for _ in range(20_000):
        raw = text(rnd, 16).encode("utf-8")
        assert _quoted(raw) == quote_plus(raw), raw
    for b in range(256):
        assert _quoted(bytes([b])) == quote_plus(bytes([b]))


def test_a_form_is_encoded_as_urlencode_encodes_it() -> None:
    rnd = random.Random(19)
    for _ in range(3_000):
        pairs = [(text(rnd, 6), text(rnd, 10)) for _ in range(rnd.randint(0, 8))]
        assert form_body(pairs) == urlencode([(k.encode(), v.encode()) for k, v in pairs],
                                             doseq=True)
        as_dict = dict(pairs)
        assert form_body(as_dict) == urlencode(
            [(k.encode(), v.encode()) for k, v in as_dict.items()], doseq=True)


@pytest.mark.parametrize(("data", "want"), [
    ([("To", "+919820000020"), ("CustomField", "c1-1|x y")],
     "To=%2B919820000020&CustomField=c1-1%7Cx+y"),
    ({"StatusCallback": "https://d.example/v1/cb/a?t=1", "None": None},
     "StatusCallback=https%3A%2F%2Fd.example%2Fv1%2Fcb%2Fa%3Ft%3D1"),
    ([("a", 1), ("b", None), ("c", ["x", "y z"])], "a=1&c=x&c=y+z"),  # not only strings
    ([(b"k", b"\xff v")], "k=%FF+v"),
    ([], ""),
])
def test_what_exotel_is_sent(data: Any, want: str) -> None:
    assert form_body(data) == want
