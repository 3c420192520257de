"""Reads a running Flywheel's /metrics with Prometheus' own text parser (prometheus_client)
and checks the families operators rely on are there and well formed.

usage: check-metrics.py URL
"""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

WANTED = {
    "flywheel_http_requests": "counter",
    "flywheel_http_request_duration_seconds": "histogram",
    "flywheel_ingest_events": "counter",
    "flywheel_ingest_batch_seconds": "histogram",
    "flywheel_members": "gauge",
    "flywheel_db_connections": "gauge",
    "flywheel_sweep_seconds": "histogram",
    "flywheel_recompute_seconds": "histogram",
}


def main(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        if response.status != 200:
            print(f"{url}: HTTP {response.status}", file=sys.stderr)
            return 1
        text = response.read().decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    problems = []
    for name, kind in WANTED.items():
        family = families.get(name)
        if family is None:
            problems.append(f"{name} is missing")
        elif family.type != kind:
            problems.append(f"{name} is a {family.type}, not a {kind}")
        elif not family.samples:
            problems.append(f"{name} has no samples")
    for problem in problems:
        print(f"metrics: {problem}", file=sys.stderr)
    samples = sum(len(f.samples) for f in families.values())
    print(f"metrics: {len(families)} families, {samples} samples parsed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
