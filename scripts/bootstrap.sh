#!/usr/bin/env bash
# Make this checkout ready to run: a .venv with the app's and the tests' Python packages,
# Azurite from npm (Storage emulator), and RabbitMQ's management API (for the rabbitmq
# rotator). Idempotent and quick when everything is already in place.
#
# Usage: scripts/bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
stamp=".venv/.requirements.sha256"
wanted="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)"

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    echo "bootstrap: installing Python packages"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    # The project itself, editable: rotation.testing etc. import without path tricks.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
        --no-build-isolation -e .
    echo "$wanted" > "$stamp"
fi

if [ ! -x node_modules/.bin/azurite ]; then
    echo "bootstrap: installing Azurite (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
fi

if command -v rabbitmq-plugins >/dev/null 2>&1; then
    bash .ci/rabbitmq-setup.sh
fi
