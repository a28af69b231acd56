#!/usr/bin/env bash
# Make RabbitMQ's management HTTP API answer on 127.0.0.1:15672 (needed by the `rabbitmq`
# rotator and its tests). Idempotent: safe to run on every CI job and on a machine where it
# already ran. Runs as root on the CI machine, where RabbitMQ is installed from Debian's
# packages and normally already running on 127.0.0.1:5672.
#
# Environment: RABBITMQ_MANAGEMENT_URL (default http://127.0.0.1:15672),
#              RABBITMQ_SETUP_TIMEOUT seconds to wait for each step (default 90).
set -euo pipefail

url="${RABBITMQ_MANAGEMENT_URL:-http://127.0.0.1:15672}"
timeout="${RABBITMQ_SETUP_TIMEOUT:-90}"

log() { printf 'rabbitmq-setup: %s\n' "$*" >&2; }

wait_for() { # wait_for DESCRIPTION COMMAND...
    local what="$1"; shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${timeout}s waiting for ${what}"
            return 1
        fi
        sleep 1
    done
}

# 1. The broker itself: start it if it is not running (same command the machine uses).
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    log "broker not answering; starting rabbitmq-server -detached"
    rabbitmq-server -detached || true
fi
wait_for "the broker to start" rabbitmqctl await_startup

# 2. The management plugin (enable is a no-op when it is already enabled).
if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx 'rabbitmq_management'; then
    log "enabling rabbitmq_management"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
fi

# 3. The HTTP API: any HTTP answer (401 without credentials) means the listener is up.
#    --noproxy: never route 127.0.0.1 through a proxy the test session may have set.
management_answers() {
    local code
    code="$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 5 "${url}/api/overview")"
    [[ "$code" != "000" ]]
}
wait_for "${url} to answer" management_answers
log "management API answers at ${url}"
