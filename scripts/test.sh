#!/usr/bin/env bash
# Run the whole test suite (unit, emulators, rotators against real servers, end to end).
# Extra arguments go to pytest, e.g. scripts/test.sh -k postgres
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
