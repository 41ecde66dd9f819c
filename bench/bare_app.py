"""The baseline: a bare Flask endpoint that only answers 200, served the same way as codexbot (granian, WSGI)."""

from flask import Flask

app = Flask(__name__)


@app.post("/webhooks/github")
def ok():
    return "", 200
