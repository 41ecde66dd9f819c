"""What operators watch: liveness (`/healthz`), Prometheus metrics (`/metrics`) and the RQ dashboard (`/rq`).
"""
