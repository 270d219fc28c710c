"""Import contacts from CSV or JSON: validate every row, keep the good ones, report the rest.

CSV: a header naming a ``number`` column (or ``phone``, ``mobile``, ``msisdn``, ``to``) and
optionally ``name``, ``timezone`` (``tz``) and ``custom_field``; any other column is kept
as a custom field of the contact (in the call's metadata and the report). Comma, semicolon
or tab separated, UTF-8 (a BOM is fine). JSON: a list of objects with the same names, or
``{"contacts": [...]}``.

Each bad row is reported with its line (JSON: its item number) and the reason; duplicates
and do-not-call numbers are reported too; good rows are imported (a row holding a NUL
byte is such a bad row: refused, not stripped). A file that cannot be read at all (empty,
no number column, not UTF-8, a field past the CSV reader's limit on any line) raises
:class:`ImportFileError`.

An import is all-or-nothing: the whole file is parsed and checked before anything is
written, and the good rows are then written in one Redis transaction (MULTI/EXEC), so a
failure never leaves part of a file imported. A clean file (valid UTF-8, no NUL byte) has
its rows checked by column index, without a dict per row; anything else goes through
:func:`~dialer.campaigns.contacts.check_row` row by row: the same verdicts either way
(tests/campaigns/test_import_parse.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dialer.campaigns.contact_repo import ContactRepo
from dialer.campaigns.contacts import (
    CUSTOM_COLUMNS,
    CUSTOM_FIELD_MAX_LEN,
    KNOWN_COLUMNS,
    TZ_COLUMNS,
    RowError,
    check_parts,
    check_row,
)
from dialer.campaigns.queue import ADDED, DNC_CAMPAIGN, DNC_GLOBAL, Contact
from dialer.campaigns.repo import CampaignRepo
from dialer.errors import ValidationError

CHUNK_ROWS = 5000
MAX_PROBLEMS = 1000  # row problems kept for the report (the counts are always complete)
NUMBER_COLUMNS = ("number", "phone", "phone_number", "mobile", "msisdn", "to")
_NO_FIELDS: dict[str, str] = {}  # every contact without custom fields shares it (never changed)

__all__ = ["CUSTOM_FIELD_MAX_LEN", "ImportFileError", "ImportReport", "import_contacts",
           "parse_contacts"]


class ImportFileError(ValidationError):
    """The file as a whole cannot be imported (empty, no number column, not UTF-8…)."""


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    suppressed: int = 0
    invalid: int = 0
    problems: list[RowError] = field(default_factory=list)

    def note(self, problem: RowError) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "duplicates": self.duplicates,
                "suppressed": self.suppressed, "invalid": self.invalid,
                "problems": [p.to_dict() for p in self.problems],
                "problems_truncated": len(self.problems) < self.skipped}

    @property
    def skipped(self) -> int:
        return self.duplicates + self.suppressed + self.invalid


def _decode_csv(data: bytes) -> tuple[str, bool]:
    """The file's text and whether it is clean: valid UTF-8 without a NUL byte, so that no
    row can hold either (raises ``ImportFileError`` when it is not UTF-8 at all)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError("the file is UTF-16; save it as UTF-8 (CSV UTF-8)",
                              field="file")
    try:
        return data.decode("utf-8-sig"), b"\x00" not in data
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    bad = []
    for i, line in enumerate(lines, 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append((i, line[exc.start]))
    if bad[0][0] == 1 or len(bad) > max(2, len(lines) // 2):
        line_no, byte = bad[0]
        raise ImportFileError(
            f"the file is not UTF-8 (line {line_no}: byte 0x{byte:02x}; {len(bad)} lines "
            "affected); it looks like Latin-1/Windows-1252: save it as UTF-8", field="file")
    return data.decode("utf-8-sig", errors="surrogateescape"), False


def _shown(header: list[str], max_chars: int = 200) -> str:
    """The header for a message: never more than ``max_chars`` of the file echoed back."""
    text = repr(header)
    return text if len(text) <= max_chars else text[:max_chars] + "…]"


def _open_csv(text: str) -> tuple[Any, list[str], str]:
    """The CSV reader past the header, the header (names normalised), its number column."""
    first = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first:
        delimiter = ";" if ";" in first else "\t" if "\t" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader, [])]
    except csv.Error as exc:
        raise ImportFileError(f"line 1: the CSV cannot be read ({exc})", field="file"
                              ) from None
    if any("\x00" in h for h in header):
        raise ImportFileError("line 1: the header holds a NUL byte", field="file")
    if not any(header):
        raise ImportFileError("the file is empty: expected a header line naming a number "
                              "column", field="file")
    if len(set(header)) != len(header):
        raise ImportFileError(f"line 1: a column appears twice in the header "
                              f"{_shown(header)}", field="file")
    number_col = next((c for c in NUMBER_COLUMNS if c in header), None)
    if number_col is None:
        raise ImportFileError(
            f"line 1: no number column in the header {_shown(header)}; name one of "
            f"{', '.join(NUMBER_COLUMNS)}", field="file")
    return reader, header, number_col


def _csv_records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record that is not blank, with the line it starts on."""
    last = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _unreadable(reader, exc) from None
        line, last = last + 1, reader.line_num
        if not "".join(row).strip():  # a blank line, or only blank fields
            continue
        yield line, row


def _numbered(reader: Any, text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (blank ones too). Without a quote in the
    file a record is one line, so its number is its place: no line count per record."""
    if '"' in text:
        yield from _csv_records(reader)
        return
    try:
        yield from enumerate(reader, reader.line_num + 1)
    except csv.Error as exc:
        raise _unreadable(reader, exc) from None


def _unreadable(reader: Any, exc: csv.Error) -> ImportFileError:
    return ImportFileError(f"line {reader.line_num}: the CSV cannot be read ({exc}); nothing "
                           "was imported", field="file")


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader, header, number_col = _open_csv(text)
    for line, row in _csv_records(reader):
        values = dict(zip(header, row, strict=False))
        if len(row) > len(header) and any(v.strip() for v in row[len(header):]):
            values["__extra__"] = f"{len(row)} fields, the header has {len(header)}"
        values["number"] = values.pop(number_col, "")
        yield line, values


def _clean_csv_items(text: str, default_tz: str, zone_from_number: bool
                     ) -> Iterator[Contact | RowError]:
    """:func:`_csv_rows` then :func:`check_row` for a file known to be valid UTF-8 without
    a NUL byte: the same verdicts, each row's columns picked out by index (no dict)."""
    reader, header, number_col = _open_csv(text)
    if "__extra__" in header:  # a column that would read as check_row's marker
        for line, values in _csv_rows(text):
            yield check_row(line, values, default_tz, zone_from_number)
        return
    width = len(header)
    at = {h: i for i, h in enumerate(header)}
    num_i = at[number_col]
    tz_at = [at[c] for c in TZ_COLUMNS if c in at]
    custom_at = [at[c] for c in CUSTOM_COLUMNS if c in at]
    name_i = at.get("name", -1)
    extras = [(h, i) for i, h in enumerate(header)
              if h and h not in KNOWN_COLUMNS and h != number_col]
    plain = not tz_at and not custom_at and not extras
    for line, row in _numbered(reader, text):
        if not "".join(row).strip():  # a blank line, or only blank fields
            continue
        n = len(row)
        raw = row[num_i] if num_i < n else ""
        if n > width and any(v.strip() for v in row[width:]):
            yield RowError(line, f"{n} fields, the header has {width}", raw.strip())
            continue
        name = row[name_i].strip() if -1 < name_i < n else ""
        if plain:
            yield check_parts(line, raw, "", name, "", _NO_FIELDS, default_tz, zone_from_number)
            continue
        tz = custom = ""
        for i in tz_at:  # the first non-empty, as check_row's ``or``
            if i < n and row[i]:
                tz = row[i]
                break
        for i in custom_at:
            if i < n and row[i]:
                custom = row[i]
                break
        tz, custom = tz.strip(), custom.strip()
        fields = {h: row[i].strip() for h, i in extras if i < n and row[i].strip()}
        yield check_parts(line, raw, tz, name, custom, fields, default_tz, zone_from_number)


def _json_rows(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ImportFileError(f"not valid JSON: {exc}", field="file") from None
    items = doc.get("contacts") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ImportFileError('JSON contacts are a list of objects or {"contacts": [...]}',
                              field="file")
    if not items:
        raise ImportFileError("the file has no contacts", field="file")
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            yield i, {"__extra__": "not an object"}
            continue
        values = {str(k).lower(): ("" if v is None else str(v)) for k, v in item.items()
                  if not isinstance(v, dict | list)}
        number_col = next((c for c in NUMBER_COLUMNS if c in values), "number")
        values["number"] = values.pop(number_col, "")
        yield i, values


def parse_contacts(data: bytes, fmt: str, default_tz: str, zone_from_number: bool = True
                   ) -> Iterator[Contact | RowError]:
    """Validated contacts and row errors, in file order. Raises ``ImportFileError``."""
    if not data.strip():
        raise ImportFileError("the file is empty", field="file")
    items: Iterator[Contact | RowError]
    if fmt == "json":
        items = (check_row(line, values, default_tz, zone_from_number)
                 for line, values in _json_rows(data))
    elif fmt == "csv":
        text, clean = _decode_csv(data)
        items = (_clean_csv_items(text, default_tz, zone_from_number) if clean else
                 (check_row(line, values, default_tz, zone_from_number)
                  for line, values in _csv_rows(text)))
    else:
        raise ImportFileError(f"unknown format {fmt!r}; use csv or json", field="format")
    seen: dict[str, int] = {}
    count = 0
    for item in items:
        count += 1
        if type(item) is Contact:
            line = item.line
            first = seen.setdefault(item.number, line)
            if first != line:
                item = RowError(line, f"duplicate of line {first}", item.number, "duplicate")
        yield item
    if count == 0:
        raise ImportFileError("the file has a header but no contacts", field="file")


_FLAG_REASONS = {DNC_GLOBAL: "do-not-call (global list)",
                 DNC_CAMPAIGN: "do-not-call (campaign list)"}


@dataclass
class ParsedImport:
    """A file checked completely, nothing written yet: its good contacts and its report."""

    contacts: list[Contact]
    report: ImportReport
    file_duplicates: int = 0


def parse_import(data: bytes, fmt: str, default_tz: str, zone_from_number: bool = True, *,
                 progress: Callable[[int, int], None] | None = None) -> ParsedImport:
    """Check every row of ``data``; raise ``ImportFileError`` before anything is written."""
    total = max(1, data.count(b"\n") if fmt == "csv" else 0)
    parsed = ParsedImport([], ImportReport())
    report = parsed.report
    keep = parsed.contacts.append
    rows = 0
    for item in parse_contacts(data, fmt, default_tz, zone_from_number):
        rows += 1
        if type(item) is Contact:
            keep(item)
        else:
            assert isinstance(item, RowError)
            if item.kind == "duplicate":
                report.duplicates += 1
                parsed.file_duplicates += 1
            else:
                report.invalid += 1
            report.note(item)
        if progress is not None and rows % CHUNK_ROWS == 0:
            report.rows = rows
            progress(rows, max(total, rows))
    report.rows = rows
    return parsed


def write_import(queue: ContactRepo, cid: str, parsed: ParsedImport, default_tz: str
                 ) -> ImportReport:
    """Write the good contacts of ``parsed`` and the counts of the rest in one
    transaction; complete its report."""
    report = parsed.report
    flags = queue.add(cid, parsed.contacts, default_tz, atomic=True,
                      counts={"invalid_rows": report.invalid,
                              "duplicates": parsed.file_duplicates})
    if flags.count(ADDED) == len(flags) == len(parsed.contacts):  # the usual: all added
        report.imported += len(flags)
        return report
    for contact, flag in zip(parsed.contacts, flags, strict=True):
        if flag == ADDED:
            report.imported += 1
        elif flag in _FLAG_REASONS:
            report.suppressed += 1
            report.note(RowError(contact.line, _FLAG_REASONS[flag], contact.number,
                                 "suppressed"))
        else:
            report.duplicates += 1
            report.note(RowError(contact.line, "already in the campaign", contact.number,
                                 "duplicate"))
    return report


def import_contacts(repo: CampaignRepo, queue: ContactRepo, cid: str, data: bytes,
                    fmt: str = "csv", *, progress: Callable[[int, int], None] | None = None
                    ) -> ImportReport:
    """Validate and add contacts to campaign ``cid``; ``progress(rows done, rows total)``.

    All or nothing: the file is checked completely before one transaction writes it.
    Raises ``NotFoundError`` (unknown id), ``CampaignStateError`` (completed/cancelled)
    or ``ImportFileError``.
    """
    spec = repo.get(cid).spec
    tz = spec.schedule.timezone
    parsed = parse_import(data, fmt, tz, spec.schedule.zone_from_number, progress=progress)
    report = write_import(queue, cid, parsed, tz)
    if progress is not None:
        progress(report.rows, report.rows)
    return report
