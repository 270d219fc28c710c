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

The body is encoded here as requests would (``application/x-www-form-urlencoded`` or
JSON, with its ``Content-Length``), without requests' per-call type probing. A request
whose adapter is the session's plain :class:`~requests.adapters.HTTPAdapter` with
retries off and whose host no proxy applies to is sent on a connection of the adapter's
urllib3 pool for its host (found once per host: the same pool, connections and TLS
settings the adapter would use) by :func:`~dialer.exotel.exchange.exchange`, which
writes it and reads the answer on the connection's socket itself
(:mod:`dialer.exotel.http11`) instead of through ``urlopen`` (about half of the POST's
CPU time) and ``http.client``, and raises the requests exceptions the adapter raises for
each failure, so that what was sent and what was not is judged the same
(:mod:`dialer.exotel.classify`). Any other request (a proxy, a caller's own adapter or
retries) goes through the adapter's ``send``.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.auth import _basic_auth_str
from requests.exceptions import ConnectionError, InvalidJSONError
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, select_proxy
from urllib3.exceptions import ClosedPoolError

from dialer import __version__
from dialer.exotel import responses
from dialer.exotel.exchange import exchange
from dialer.exotel.form import form_body

log = logging.getLogger("dialer.exotel")

URL_CACHE_SIZE = 256  # encoded URLs kept (the POST URLs, and GETs of calls still polled)
FORM = "application/x-www-form-urlencoded"


class _Route(NamedTuple):
    """Where a host's requests go on the lean path: the adapter's pool for the host."""

    pool: Any  # urllib3.HTTPConnectionPool (None: not lean, use the adapter's send)
    adapter: HTTPAdapter


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
        self._routes: dict[str, _Route] = {}
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
        requests' ``prepare`` would. Nothing is sent.

        ``data``: form fields (a mapping or a list of pairs; ``None`` values left out),
        ``json``: a JSON body — encoded as requests' ``prepare_body`` does."""
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = self._encoded_url(url)
        headers = CaseInsensitiveDict(cast(dict[str, str], {
            **self._session.headers, "Authorization": self._auth.get_secret_value()}))
        body: str | bytes | None = None
        kind = None
        if data:
            body, kind = form_body(data), FORM
        elif json is not None:
            try:
                body = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            except ValueError as exc:
                raise InvalidJSONError(exc, request=prepared) from None
            kind = "application/json"
        if body:
            headers["Content-Length"] = str(len(body))
        elif prepared.method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        if kind and "content-type" not in headers:
            headers["Content-Type"] = kind
        prepared.headers = headers
        prepared.hooks = default_hooks()
        prepared.body = body
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
            route = self._route(prepared, env)
            if route.pool is None:
                resp = route.adapter.send(prepared, stream=False, timeout=self._timeout,
                                          verify=env["verify"], cert=env["cert"],
                                          proxies=env["proxies"])
                resp.content  # noqa: B018 -- read the whole body now, as Session.send does
            else:
                resp = self._send_lean(prepared, route)
        except requests.RequestException as exc:
            self._log_failure(method, url, start, exc)
            raise
        elapsed_ms = (time.monotonic() - start) * 1000
        level = logging.INFO if resp.status_code < 400 else logging.WARNING
        log.log(level, "%s %s -> %d in %.0f ms", method, url, resp.status_code, elapsed_ms)
        return resp

    def _route(self, prepared: requests.PreparedRequest, env: dict[str, Any]) -> _Route:
        """The pool a request to ``prepared.url``'s host goes to on the lean path, found
        once per host (again when the pool manager has closed it); ``pool`` None: the
        adapter's ``send`` (a proxy applies, the adapter is not a plain HTTPAdapter, or
        it retries)."""
        url = str(prepared.url)
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        route = self._routes.get(origin)
        if route is not None and (route.pool is None or route.pool.pool is not None):
            return route
        adapter = cast(HTTPAdapter, self._session.get_adapter(url))
        if not _plain_without_retries(adapter) or select_proxy(url, env["proxies"]):
            route = _Route(None, adapter)
        else:
            try:
                pool = adapter.get_connection_with_tls_context(
                    prepared, env["verify"], proxies=env["proxies"], cert=env["cert"])
            except urllib3.exceptions.LocationValueError as exc:
                raise requests.exceptions.InvalidURL(exc, request=prepared) from None
            adapter.cert_verify(pool, url, env["verify"], env["cert"])
            # HTTP/1.1 connections only (urllib3's opt-in HTTP/2 ones go through send)
            http11 = getattr(pool, "ConnectionCls", None) in _HTTP11
            route = _Route(pool if http11 else None, adapter)
        self._routes[origin] = route
        return route

    def _send_lean(self, prepared: requests.PreparedRequest, route: _Route
                   ) -> requests.Response:
        """``prepared`` sent on a connection of its host's pool and its answer read
        (:func:`~dialer.exotel.exchange.exchange`: failures raised as the requests
        exceptions ``HTTPAdapter.send`` raises for them)."""
        connect_s, read_s = self._timeout
        try:
            answer = exchange(route.pool, str(prepared.method), prepared.path_url,
                              prepared.body, prepared.headers, connect_s, read_s)
        except ClosedPoolError as e:
            raise ConnectionError(e, request=prepared) from None
        except requests.RequestException as e:
            e.request = prepared
            raise
        resp = requests.Response()
        resp.status_code = answer.status
        resp.headers = answer.headers
        resp.encoding = get_encoding_from_headers(resp.headers)
        resp.reason = answer.reason
        resp.url = str(prepared.url)
        resp.request = prepared
        resp.connection = route.adapter
        resp._content = answer.body
        resp._content_consumed = True  # type: ignore[attr-defined]
        return resp

    @staticmethod
    def _log_failure(method: str, url: str, start: float, exc: Exception) -> None:
        elapsed_ms = (time.monotonic() - start) * 1000
        log.warning("%s %s failed after %.0f ms: %s", method, url, elapsed_ms,
                    type(exc).__name__)


_HTTP11 = (urllib3.connection.HTTPConnection, urllib3.connection.HTTPSConnection)


def _plain_without_retries(adapter: HTTPAdapter) -> bool:
    """requests' own HTTPAdapter that retries nothing (no count, no status list)."""
    if type(adapter) is not HTTPAdapter:
        return False
    retries = adapter.max_retries
    return retries.total in (0, False) and not retries.status_forcelist


def new_session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {"User-Agent": f"exotel-dialer/{__version__}", "Accept": "application/json"}
    )
    return session
