"""GET /metrics: Prometheus text format for operators, behind a bearer token."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from jobs.metrics import METRICS, read_metric
from bot.state import get_counters, get_queues, get_redis, get_settings

bp = Blueprint("metrics", __name__)


class RedisCollector:
    """Turns the counters every process keeps in Redis, and the queue depths, into metric families."""

    def __init__(self, conn, queues):
        self.conn, self.queues = conn, queues

    def collect(self):
        for name, (kind, text) in METRICS.items():
            if kind == "summary":
                sums = dict((_key(l), v) for l, v in read_metric(self.conn, name + ":sum"))
                counts = read_metric(self.conn, name + ":count")
                labels = sorted({k for l, _ in counts for k in l})
                family = SummaryMetricFamily(f"codexbot_{name}", text, labels=labels)
                for lab, count in counts:
                    family.add_metric([lab.get(k, "") for k in labels], count, sums.get(_key(lab), 0.0))
            else:
                rows = read_metric(self.conn, name)
                labels = sorted({k for l, _ in rows for k in l})
                family = CounterMetricFamily(f"codexbot_{name}", text, labels=labels)
                for lab, value in rows:
                    family.add_metric([lab.get(k, "") for k in labels], value)
            yield family
        depth = GaugeMetricFamily("codexbot_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        for queue in self.queues:
            depth.add_metric([queue.name], queue.count)
        yield depth


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


@bp.get("/metrics")
def metrics():
    token = get_settings().metrics_token
    if not token:
        abort(404, "metrics are off: set CODEXBOT_METRICS_TOKEN and scrape with it as a bearer token")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(401, "send the metrics token as `Authorization: Bearer <CODEXBOT_METRICS_TOKEN>`")
    counters = get_counters()
    counters.flush()
    registry = CollectorRegistry()
    registry.register(RedisCollector(get_redis(),
                                     get_queues().values()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
