#!/usr/bin/env bash
# Installs what the benchmarks drive the server with, when absent: wrk (Debian), the C load
# generator of bench/bench_http_wrk.py. Idempotent and quick when present.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench-deps: installing wrk"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
else
  echo "bench-deps: wrk is missing (apt-get install wrk); bench_http_wrk.py will not run"
fi
