"""Prometheus: the ingest counters, the harness catalog, scrape-time gauges, bounded labels."""
