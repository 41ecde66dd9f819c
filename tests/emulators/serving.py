"""Run a WSGI app on a free 127.0.0.1 port in a background thread, for the emulators."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """Keeps test output clean; the emulators record requests themselves."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class BackgroundServer:
    """A threaded HTTP server bound to 127.0.0.1 on a port the OS picks."""

    def __init__(self, app, host: str = "127.0.0.1", ssl_context=None):
        self._app = app
        self._host = host
        self._ssl = ssl_context  # an ssl.SSLContext: serve HTTPS
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The server is not running; call start() or use it as a context manager.")
        return f"{'https' if self._ssl else 'http'}://{self._host}:{self._server.server_port}"

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = make_server(self._host, 0, self._app, threaded=True, request_handler=_QuietHandler,
                                   ssl_context=self._ssl)
        # A short poll interval keeps stop() quick; the default 0.5 s adds up over a test run.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = self._thread = None


class Served:
    """A context manager for an emulator that keeps its BackgroundServer in `self.server`."""

    server: BackgroundServer

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])
