"""The HTTP transport of :class:`~dialer.exotel.client.ExotelClient`: one pooled
``requests.Session``, basic auth in the header (never in a URL), explicit timeouts, no
redirects followed, every request logged without credentials.

The lean path: a request is prepared directly — the session's headers and the
``Authorization`` header (built once), the URL checked and encoded once per URL
(:meth:`Transport.prepare`) — and handed to the session's adapter with the
environment's settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` …) read
once per host, instead of ``Session.request`` / ``Session.send`` merging cookies, auth,
hooks and the whole environment again on every call (about 1.5 ms of a worker's time
per POST on the benchmark machine). Cookies are not kept: Exotel's API sets none. A
request can be prepared ahead of its sending (:meth:`Transport.prepare`, then
:meth:`Transport.send_prepared`), so that a POST that must follow a write at once (the
attempt's posting mark) has nothing left to build.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.auth import _basic_auth_str
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from dialer import __version__
from dialer.exotel import responses

log = logging.getLogger("dialer.exotel")

URL_CACHE_SIZE = 256  # encoded URLs kept (the POST URLs, and GETs of calls still polled)


def without_userinfo(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def decode_body(resp: requests.Response) -> dict[str, Any] | None:
    """The parsed body, or ``None`` when it is empty or not Exotel's JSON/XML."""
    text = resp.content.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        return responses.parse_body(text)
    except responses.MalformedResponseError as exc:
        log.warning("unparsable %d body from Exotel: %s", resp.status_code, exc)
        return None



class Transport:
    """Sends requests for one account on a pooled session."""

    def __init__(self, api_key: str, api_token: SecretStr, timeout: tuple[float, float], *,
                 session: requests.Session | None = None, pool_maxsize: int = 10) -> None:
        self._timeout = timeout
        self._owns_session = session is None
        self._session = session if session is not None else new_session(pool_maxsize)
        self._env: dict[str, dict[str, Any]] = {}
        self._urls: dict[str, str] = {}
        # the Authorization header's value, built once; a SecretStr keeps it out of reprs
        self._auth = SecretStr(_basic_auth_str(api_key, api_token.get_secret_value()))

    def __repr__(self) -> str:
        return "Transport(…)"

    def close(self) -> None:
        """Close the session's pooled connections (only a session this transport made)."""
        if self._owns_session:
            self._session.close()

    def environment(self, url: str) -> dict[str, Any]:
        """Proxies, CA bundle and client cert for ``url``'s host, read once per host."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        settings = self._env.get(origin)
        if settings is None:
            s = self._session
            settings = dict(s.merge_environment_settings(origin + "/", {}, None, s.verify,
                                                         s.cert))
            self._env[origin] = settings
        return settings

    def _encoded_url(self, url: str) -> str:
        """``url`` checked and encoded as requests would (``prepare_url``), once per URL."""
        done = self._urls.get(url)
        if done is None:
            probe = requests.PreparedRequest()
            probe.prepare_url(url, None)
            done = str(probe.url)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = done
        return done

    def prepare(self, method: str, url: str, *, data: Any = None, json: Any = None
                ) -> requests.PreparedRequest:
        """The request as it will be sent (headers, body); bad URLs raise here, as
        requests' ``prepare`` would. Nothing is sent."""
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = self._encoded_url(url)
        headers = {**self._session.headers, "Authorization": self._auth.get_secret_value()}
        prepared.headers = CaseInsensitiveDict(cast(dict[str, str], headers))
        prepared.hooks = default_hooks()
        prepared.prepare_body(data, None, json)
        return prepared

    def send(self, method: str, url: str, **kw: Any) -> requests.Response:
        """One request, logged without credentials; requests exceptions propagate."""
        start = time.monotonic()
        try:
            prepared = self.prepare(method, url, **kw)
        except requests.RequestException as exc:
            self._log_failure(method, url, start, exc)
            raise
        return self._send(prepared, method, url, start)

    def send_prepared(self, prepared: requests.PreparedRequest, url: str
                      ) -> requests.Response:
        """Send what :meth:`prepare` made (``url``: as given to it, for the log)."""
        return self._send(prepared, str(prepared.method), url, time.monotonic())

    def _send(self, prepared: requests.PreparedRequest, method: str, url: str,
              start: float) -> requests.Response:
        try:
            env = self.environment(url)
            adapter = self._session.get_adapter(str(prepared.url))
            resp = adapter.send(prepared, stream=False, timeout=self._timeout,
                                verify=env["verify"], cert=env["cert"],
                                proxies=env["proxies"])
            resp.content  # noqa: B018 -- read the whole body now, as Session.send does
        except requests.RequestException as exc:
            self._log_failure(method, url, start, exc)
            raise
        elapsed_ms = (time.monotonic() - start) * 1000
        level = logging.INFO if resp.status_code < 400 else logging.WARNING
        log.log(level, "%s %s -> %d in %.0f ms", method, url, resp.status_code, elapsed_ms)
        return resp

    @staticmethod
    def _log_failure(method: str, url: str, start: float, exc: Exception) -> None:
        elapsed_ms = (time.monotonic() - start) * 1000
        log.warning("%s %s failed after %.0f ms: %s", method, url, elapsed_ms,
                    type(exc).__name__)


def new_session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {"User-Agent": f"exotel-dialer/{__version__}", "Accept": "application/json"}
    )
    return session
