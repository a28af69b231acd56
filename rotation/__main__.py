"""``python -m rotation``: the operator CLI (:mod:`rotation.cli`).

An entry point like function_app.py, so it may use the composition root: the service is
built by :func:`composition.build_service` from the process environment (the app settings),
with the composition root's credential.
"""

from __future__ import annotations

import sys

from rotation.cli import main
from rotation.service import RotationService


def _build() -> RotationService:
    from composition import build_service

    return build_service()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], _build))
