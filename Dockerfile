# syntax=docker/dockerfile:1
# One image for the web side and the workers: `codexbot serve` (default) or `codexbot worker`.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY cli ./cli
# codexbot lives in its own virtualenv under /opt: the sandbox mounts only /usr, /bin and /lib, so its
# commands see the image's python3 with nothing of codexbot's (flask, rq, openai…) installed
RUN python -m venv /opt/codexbot && /opt/codexbot/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# git for checkouts and pushes, bubblewrap for the sandbox, socat for its network fence; Debian's stable versions are the pin
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap socat ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin codexbot \
    && mkdir -p /var/lib/codexbot \
    && chown codexbot:codexbot /var/lib/codexbot
COPY --from=build /opt/codexbot /opt/codexbot
USER 10001:10001
WORKDIR /home/codexbot
ENV CODEXBOT_DATA_DIR=/var/lib/codexbot \
    PATH=/opt/codexbot/bin:$PATH \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/codexbot"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["codexbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
