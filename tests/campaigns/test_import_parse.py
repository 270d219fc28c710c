"""The CSV fast path (a clean file's rows checked by column index, no dict per row) gives
exactly the verdicts of the general path (a dict per row through ``check_row``): the same
contacts, errors, lines, duplicates and payloads, on generated files of every shape."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from dialer.campaigns import contacts, importer
from dialer.campaigns.contacts import RowError, check_row
from dialer.campaigns.importer import ImportFileError, parse_contacts, parse_import
from dialer.campaigns.queue import Contact

HEADERS = ["number", "phone", "Mobile", "msisdn", "to", "phone_number", " Name ", "name",
           "timezone", "tz", "Time Zone", "custom_field", "customfield", "city", "plan", "",
           "__extra__"]
NUMBERS = ["+919876543210", "09876543210", "9876543210", " 98765 43210 ", "080 3075 2400",
           "+14155550123", "+447911123456", "12345", "", "  ", "98765x3210", "+91" + "9" * 30,
           "+919800000001", "+919800000002", "sip:agent@example.com", "(0)9876543210",
           "+971501234567", "+6591234567", "+919800000003"]
TEXTS = ["", " ", "Asha", " Ravi ", "Zoë", "x" * 201, "c" * 101, "a,b", 'say "hi"',
         "line\nbreak", "Asia/Dubai", " Asia/Kolkata ", "Mars/Base", "America/New_York",
         "=1+2", "\t", "p" * 700, "日本"]


def reference(data: bytes, default_tz: str, zone_from_number: bool
              ) -> list[Contact | RowError]:
    """The general path: a dict per row, ``check_row``, duplicates marked in file order."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    out: list[Contact | RowError] = []
    seen: dict[str, int] = {}
    for line, values in importer._csv_rows(text):
        item = check_row(line, values, default_tz, zone_from_number)
        if isinstance(item, Contact):
            first = seen.setdefault(item.number, line)
            if first != line:
                item = RowError(line, f"duplicate of line {first}", item.number, "duplicate")
        out.append(item)
    return out


def generated_csv(rng: random.Random) -> bytes:
    header = rng.sample(HEADERS, rng.randint(1, 6))
    if not any(h.strip().lower() in importer.NUMBER_COLUMNS for h in header):
        header.insert(rng.randrange(len(header) + 1), rng.choice(["number", "phone", "to"]))
    delimiter = rng.choice([",", ";", "\t"]) if len(header) > 1 else ","
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=rng.choice(["\n", "\r\n", "\r"]))
    writer.writerow(header)
    width = len(header)
    for _ in range(rng.randint(1, 60)):
        n = rng.choice([width] * 6 + [0, max(0, width - 1), width + 1, width + 2])
        row = [rng.choice(NUMBERS) if rng.random() < 0.5 else rng.choice(TEXTS)
               for _ in range(n)]
        if rng.random() < 0.2 and n > width:
            row[width:] = [rng.choice(["", " "]) for _ in row[width:]]  # blank extras
        writer.writerow(row)
    data = buf.getvalue().encode()
    return b"\xef\xbb\xbf" + data if rng.random() < 0.1 else data


def verdicts(data: bytes, default_tz: str, zone_from_number: bool
             ) -> list[Contact | RowError] | str:
    try:
        return list(parse_contacts(data, "csv", default_tz, zone_from_number))
    except ImportFileError as exc:
        return f"ImportFileError: {exc}"


def reference_verdicts(data: bytes, default_tz: str, zone_from_number: bool
                       ) -> list[Contact | RowError] | str:
    try:
        out = reference(data, default_tz, zone_from_number)
    except ImportFileError as exc:
        return f"ImportFileError: {exc}"
    return out or "ImportFileError: the file has a header but no contacts"


@pytest.mark.parametrize("seed", range(40))
def test_generated_files_get_the_verdicts_of_the_general_path(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        data = generated_csv(rng)
        tz, by_number = rng.choice(["Asia/Kolkata", "Europe/London"]), rng.random() < 0.8
        got = verdicts(data, tz, by_number)
        assert got == reference_verdicts(data, tz, by_number), data
        if isinstance(got, list):
            assert [c.payload(tz) for c in got if isinstance(c, Contact)] == [
                c.payload(tz) for c in reference(data, tz, by_number)
                if isinstance(c, Contact)]


def test_the_fast_path_is_the_one_taken_for_a_clean_file(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    def refused(*args: object) -> None:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(importer, "check_row", refused)
    parsed = parse_import(b"number,name,city\n+919800000001,Asha,Pune\n12345,,\n",
                          "csv", "Asia/Kolkata")
    assert parsed.contacts == [Contact("+919800000001", "Asia/Kolkata", "Asha", "",
                                       {"city": "Pune"}, 2)]
    assert [str(p) for p in parsed.report.problems] == [
        "line 3: number: '12345' is not a valid phone number"]


@pytest.mark.parametrize("row, reason", [
    (b"+919800000001,Jos\xe9\n", "not valid UTF-8 (byte 0xe9)"),
    (b"+919800000001,A\x00B\n", "holds a NUL byte"),
])
def test_a_file_with_a_bad_row_takes_the_general_path(row: bytes, reason: str) -> None:
    data = b"number,name\n+919800000002,Ok\n+919800000003,Ok\n+919800000004,Ok\n" + row
    items = list(parse_contacts(data, "csv", "Asia/Kolkata"))
    assert [type(i) for i in items] == [Contact, Contact, Contact, RowError]
    assert isinstance(items[3], RowError) and reason in items[3].reason
    assert items[3].line == 5


def test_counts_and_progress_are_those_of_every_row() -> None:
    rows = [f"+9198{i:08d}" for i in range(12_000)] + ["12345", "+919800000000", ""]
    seen: list[tuple[int, int]] = []
    parsed = parse_import(("number\n" + "\n".join(rows) + "\n").encode(), "csv",
                          "Asia/Kolkata", progress=lambda d, t: seen.append((d, t)))
    report = parsed.report
    assert (report.rows, len(parsed.contacts), report.invalid, report.duplicates,
            parsed.file_duplicates) == (12_002, 12_000, 1, 1, 1)
    assert [d for d, _ in seen] == [5000, 10000] and all(t >= d for d, t in seen)


def test_the_size_bound_never_lets_oversized_custom_fields_through() -> None:
    rng = random.Random(7)
    alphabet = ["a", '"', "\\", "\n", "\x01", "é", "€", "😀", "\udc80", " "]
    for _ in range(3000):
        fields = {"".join(rng.choices(alphabet, k=rng.randint(1, 40))):
                  "".join(rng.choices(alphabet, k=rng.randint(0, 90)))
                  for _ in range(rng.randint(1, 3))}
        if len(json.dumps(fields)) > contacts.FIELDS_MAX_BYTES:
            assert contacts._may_exceed(fields), fields
    worst = {"k": "😀" * 84}  # 12 * 85 + 8 = 1028: may exceed; json.dumps gives 1017
    assert contacts._may_exceed(worst) and len(json.dumps(worst)) <= 1024


def test_a_payload_is_the_text_json_dumps_writes() -> None:
    def reference_payload(c: Contact, default_tz: str) -> str:
        data: dict[str, object] = {}
        if c.name:
            data["n"] = c.name
        if c.custom_field:
            data["c"] = c.custom_field
        if c.tz != default_tz:
            data["z"] = c.tz
        if c.fields:
            data["f"] = c.fields
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False) if data else ""

    rng = random.Random(3)
    alphabet = ["a", '"', "\\", "\n", "\t", "é", "\u2028", "\x7f", "\x01", "😀", "\udc80", "/"]

    def text() -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(0, 4)))

    for _ in range(5000):
        fields: dict[str, object] = {text(): text() for _ in range(rng.randint(0, 3))}
        if rng.random() < 0.05:
            fields[text()] = rng.choice([1, None, 2.5, True])  # not a string: JSON's way
        c = Contact("+919800000001", rng.choice(["Asia/Kolkata", "Asia/Dubai"]), text(),
                    text(), fields, 2)  # type: ignore[arg-type]
        assert c.payload("Asia/Kolkata") == reference_payload(c, "Asia/Kolkata"), c
