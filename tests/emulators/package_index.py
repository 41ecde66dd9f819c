"""A Python package index (PEP 503 simple API) on 127.0.0.1 for real pip: pure-Python wheels built in memory,
each with its own dependencies, so setup commands can `pip install` for real without the internet."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile

from werkzeug.wrappers import Request, Response

from tests.emulators.serving import BackgroundServer, Served


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_wheel(name: str, version: str, requires: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """A wheel holding one module `name` whose VERSION is `version`; (file name, bytes)."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist}/METADATA": "Metadata-Version: 2.1\n"
                            f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: codexbot-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, text in files.items():
            data = text.encode()
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        wheel.writestr(f"{dist}/RECORD", "\n".join(record + [f"{dist}/RECORD,,"]) + "\n")
    return f"{module}-{version}-py3-none-any.whl", buffer.getvalue()


class PackageIndex(Served):
    """`packages` maps a name to its dependencies; every package has version 1.0. Counts the files served."""

    def __init__(self, packages: dict[str, tuple[str, ...]], ssl_context=None):
        self.wheels: dict[str, tuple[str, bytes]] = {
            _normalize(name): build_wheel(name, "1.0", requires) for name, requires in packages.items()}
        self.downloads: list[str] = []
        self.server = BackgroundServer(self._app, ssl_context=ssl_context)

    def _app(self, environ, start_response):
        request = Request(environ)
        parts = [p for p in request.path.split("/") if p]
        if parts == ["simple"]:
            links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in sorted(self.wheels))
            response = Response(f"<html><body>\n{links}</body></html>", content_type="text/html")
        elif len(parts) == 2 and parts[0] == "simple" and _normalize(parts[1]) in self.wheels:
            file_name, data = self.wheels[_normalize(parts[1])]
            digest = hashlib.sha256(data).hexdigest()
            response = Response(f'<html><body><a href="/files/{file_name}#sha256={digest}">{file_name}</a>'
                                "</body></html>", content_type="text/html")
        elif len(parts) == 2 and parts[0] == "files":
            found = [data for file_name, data in self.wheels.values() if file_name == parts[1]]
            response = Response(found[0], content_type="application/octet-stream") if found else Response(status=404)
            if found:
                self.downloads.append(parts[1])
        else:
            response = Response("not found\n", status=404)
        return response(environ, start_response)


def chain_of(count: int, prefix: str = "pkg") -> dict[str, tuple[str, ...]]:
    """`count` packages where each depends on the next: installing the first brings them all."""
    names = [f"{prefix}{i:02d}" for i in range(1, count + 1)]
    return {name: ((names[i + 1],) if i + 1 < count else ()) for i, name in enumerate(names)}
