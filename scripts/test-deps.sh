#!/usr/bin/env bash
# Installs what the end-to-end tests talk to, when absent: the real Claude Code CLI and ccusage
# (npm), headless Chromium, PostgreSQL, Prometheus and systemd-analyze (Debian; verifies the
# unit file). Idempotent and quick when present.
set -euo pipefail
cd "$(dirname "$0")/.."

CLAUDE_VERSION="${CLAUDE_CODE_VERSION:-2.1.328}"
CLAUDE_DIR=".cache/claude-code"
# The usage reports are compared field for field with this ccusage (tests/test_reports.py).
CCUSAGE_VERSION="${CCUSAGE_VERSION:-18.0.11}"
CCUSAGE_DIR=".cache/ccusage"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
{ command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } \
  || need_apt+=(postgresql)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need_apt[@]}" >/dev/null
    # The Debian prometheus package starts a daemon on :9090; tests run their own.
    { systemctl stop prometheus 2>/dev/null || pkill -x prometheus 2>/dev/null; } || true
  else
    echo "test-deps: missing ${need_apt[*]} (install them, or tests that need them fail in CI)"
  fi
fi

# npm_install DIR PACKAGE@VERSION: a pinned npm package in its own folder under .cache/.
npm_install() {
  if command -v npm >/dev/null 2>&1; then
    echo "test-deps: installing $2"
    mkdir -p "$1"
    npm install --silent --no-audit --no-fund --prefix "$1" "$2" >/dev/null
  else
    echo "test-deps: npm is missing; tests that need $2 cannot run"
  fi
}

[ -x "$CLAUDE_DIR/node_modules/.bin/claude" ] \
  || npm_install "$CLAUDE_DIR" "@anthropic-ai/claude-code@$CLAUDE_VERSION"
grep -qs "\"version\": \"$CCUSAGE_VERSION\"" "$CCUSAGE_DIR/node_modules/ccusage/package.json" \
  || npm_install "$CCUSAGE_DIR" "ccusage@$CCUSAGE_VERSION"

# claude-mpm (its real hook handler is run against router-ext) pulls in FastAPI, MCP, Flask and
# tree-sitter, which do not belong in the project's environment: it gets a venv of its own.
MPM_VERSION="${CLAUDE_MPM_VERSION:-5.9.10}"
MPM_DIR=".cache/claude-mpm"
if [ ! -x "$MPM_DIR/bin/python" ] || ! "$MPM_DIR/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('claude-mpm') != '$MPM_VERSION')" \
    2>/dev/null; then
  echo "test-deps: installing claude-mpm==$MPM_VERSION into $MPM_DIR"
  python3 -m venv "$MPM_DIR"
  "$MPM_DIR/bin/pip" install -q "claude-mpm==$MPM_VERSION" >/dev/null
fi
