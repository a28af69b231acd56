#!/usr/bin/env bash
# Static security checks of infra/ (Bicep) with checkov, configured by .checkov.yaml.
#
# checkov pins many packages, so it lives in its own virtualenv (default .venv-infra/, override
# with INFRA_VENV) and never touches the project's .venv. The venv is reused while it holds the
# pinned version. Exits non-zero on any failed check or parse error; every skip is justified in
# place (inside the resource) or, for graph checks checkov cannot skip in place, in .checkov.yaml.
#
# Usage: bash .ci/infra-check.sh
set -euo pipefail

cd "$(dirname "$0")/.."

CHECKOV_VERSION="3.3.30"
VENV="${INFRA_VENV:-.venv-infra}"
PYTHON="${PYTHON:-python3}"

installed="$("$VENV/bin/checkov" --version 2>/dev/null || true)"
if [ "$installed" != "$CHECKOV_VERSION" ]; then
    echo "infra-check: installing checkov $CHECKOV_VERSION into $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "checkov==$CHECKOV_VERSION"
fi

# --skip-download (in .checkov.yaml) keeps checkov from calling its vendor's API; the network
# here reaches only package registries.
echo "infra-check: checkov $("$VENV/bin/checkov" --version) on infra/"
"$VENV/bin/checkov" --config-file .checkov.yaml
