"""The access log keeps owners' private links out, in the request line and the Referer."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

from gunicorn.config import Config

from finder.access_log import ACCESS_LOG_FORMAT, AccessLogger, redact

TOKEN = "eyJsIjo3LCJlIjoib3duZXJAY2xpbmljLmV4YW1wbGUifQ.aw7.sig"


def test_a_private_link_is_hidden_and_the_rest_kept() -> None:
    assert redact(f"GET /manage/{TOKEN} HTTP/1.1") == "GET /manage/[private] HTTP/1.1"
    assert redact(f"https://finder.example/manage/{TOKEN}?x=1") == \
        "https://finder.example/manage/[private]?x=1"
    assert redact("POST /manage HTTP/1.1") == "POST /manage HTTP/1.1"
    assert redact("GET /manage/thanks HTTP/1.1") == "GET /manage/thanks HTTP/1.1"


def test_the_server_s_log_lines_hold_no_token() -> None:
    logger = AccessLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/manage/{TOKEN}",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": f"/manage/{TOKEN}",
               "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_REFERER": f"http://127.0.0.1:5000/manage/{TOKEN}"}
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", f"http://127.0.0.1:5000/manage/{TOKEN}")])
    atoms = logger.atoms(response, request, environ, datetime.timedelta(milliseconds=3))
    line = logger.cfg.access_log_format % atoms
    assert TOKEN not in line and TOKEN not in str(atoms)
    assert "/manage/[private]" in line


def test_the_access_log_holds_no_query_string_nor_verification_link() -> None:
    logger = AccessLogger(Config())
    query = "postcode=78701&lat=30.27131&lon=-97.74262&q=sciatica"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/search?{query}",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/search",
               "QUERY_STRING": query, "REMOTE_ADDR": "127.0.0.1",
               "HTTP_REFERER": f"http://127.0.0.1:5000/verify/{TOKEN}?{query}"}
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms(response, request, environ, datetime.timedelta(milliseconds=3))
    line = logger.cfg.access_log_format % atoms
    for secret in ("78701", "30.27131", "sciatica", TOKEN):
        assert secret not in line and secret not in str(atoms)
    assert '"GET /search HTTP/1.1"' in line and "/verify/[private]" in line


def test_the_access_log_line_ends_with_the_request_id() -> None:
    config = Config()
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = AccessLogger(config)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/healthz", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": "/healthz", "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1"}
    response = SimpleNamespace(status="200 OK", sent=10,
                               headers=[("X-Request-Id", "proxy-42-abc")])
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ,
                         datetime.timedelta(milliseconds=3))
    assert (logger.cfg.access_log_format % atoms).endswith(" id=proxy-42-abc")
