"""An npm registry on 127.0.0.1 for real npm: packuments and tarballs of small generated packages, each with
its own dependencies, so setup can `npm install` a few hundred packages without the internet."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

from werkzeug.wrappers import Request, Response

from tests.emulators.serving import BackgroundServer, Served

VERSION = "1.0.0"


def build_tarball(name: str, dependencies: dict[str, str]) -> bytes:
    manifest = {"name": name, "version": VERSION, "main": "index.js", "dependencies": dependencies}
    files = {"package/package.json": json.dumps(manifest).encode(),
             "package/index.js": f"module.exports = {json.dumps(name)};\n".encode()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class NpmRegistry(Served):
    """`packages` maps a name to the names it depends on; every package is version 1.0.0."""

    def __init__(self, packages: dict[str, tuple[str, ...]]):
        self.tarballs = {name: build_tarball(name, {dep: VERSION for dep in deps}) for name, deps in packages.items()}
        self.packages = packages
        self.server = BackgroundServer(self._app)

    def _packument(self, name: str, host: str) -> dict:
        data = self.tarballs[name]
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        version = {"name": name, "version": VERSION, "dependencies": {d: VERSION for d in self.packages[name]},
                   "dist": {"tarball": f"http://{host}/{name}/-/{name}-{VERSION}.tgz",
                            "shasum": hashlib.sha1(data).hexdigest(), "integrity": integrity}}
        return {"name": name, "dist-tags": {"latest": VERSION}, "versions": {VERSION: version}}

    def _app(self, environ, start_response):
        request = Request(environ)
        parts = [p for p in request.path.split("/") if p]
        if len(parts) == 1 and parts[0] in self.packages:
            response = Response(json.dumps(self._packument(parts[0], request.host)), content_type="application/json")
        elif len(parts) == 3 and parts[1] == "-" and parts[0] in self.tarballs:
            response = Response(self.tarballs[parts[0]], content_type="application/octet-stream")
        else:
            response = Response('{"error": "not found"}', status=404, content_type="application/json")
        return response(environ, start_response)


def tree_of(count: int, fanout: int = 4, prefix: str = "dep") -> dict[str, tuple[str, ...]]:
    """`count` packages, each depending on up to `fanout` later ones: installing the first brings them all."""
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    return {name: tuple(names[j] for j in range(i * fanout + 1, min(i * fanout + 1 + fanout, count)))
            for i, name in enumerate(names)}
