"""uvicorn's access log without secrets: query values of sensitive names are masked.

Exotel's callbacks carry ``?token=<hmac>``, and a client may put its API token in a
query string (``?api_token=``, ``?access_token=``…). uvicorn logs the full path of every
request on the ``uvicorn.access`` logger; :class:`RedactQueryFilter` rewrites the path
argument of each record before any handler formats it (names: :mod:`dialer.redact`).

:func:`install` adds it to the logger (idempotent). ``dialer web`` and the web app's
factory (``uvicorn --factory dialer.web:app_from_env``, as tests, compose and the
Procfile start it) both call it, so every way of starting the web app is covered.
"""

from __future__ import annotations

import logging
from typing import Any

from dialer.redact import redact_query

ACCESS_LOGGER = "uvicorn.access"


def redact_path(path: str) -> str:
    """``/x?token=abc&a=1`` → ``/x?token=***&a=1``."""
    base, sep, query = path.partition("?")
    return base + sep + redact_query(query) if sep else path


def _redact_arg(value: Any) -> Any:
    return redact_path(value) if isinstance(value, str) and "?" in value else value


class RedactQueryFilter(logging.Filter):
    """Masks secret query values in every string argument (and message) of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = " ".join(_redact_arg(w) for w in record.msg.split(" "))
        return True


def install(logger_name: str = ACCESS_LOGGER) -> None:
    """Add the filter to ``logger_name`` and to its handlers (once)."""
    logger = logging.getLogger(logger_name)
    targets: list[logging.Filterer] = [logger, *logger.handlers]
    for target in targets:
        if not any(isinstance(f, RedactQueryFilter) for f in target.filters):
            target.addFilter(RedactQueryFilter())


def log_config() -> dict[str, Any]:
    """uvicorn's logging config with the filter on the access handler (``dialer web``)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": RedactQueryFilter}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    config["loggers"][ACCESS_LOGGER]["filters"] = ["redact_query"]
    return config
