# syntax=docker/dockerfile:1
# One image for the web side and the workers: `codexbot serve` (default) or `codexbot worker`.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY cli ./cli
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim-bookworm
# git for checkouts and pushes, bubblewrap for the sandbox, socat for its network fence; Debian's stable versions are the pin
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap socat ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin codexbot \
    && mkdir -p /var/lib/codexbot \
    && chown codexbot:codexbot /var/lib/codexbot
COPY --from=build /install /usr/local
USER 10001:10001
WORKDIR /home/codexbot
ENV CODEXBOT_DATA_DIR=/var/lib/codexbot \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/codexbot"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["codexbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
