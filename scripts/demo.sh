#!/usr/bin/env bash
# A full rotation on the local stack: emulated Key Vault and Event Grid, Azurite, and a
# throwaway PostgreSQL cluster that demands passwords. Prints what happened (never a value).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh >&2
exec .venv/bin/python -m demo "$@"
