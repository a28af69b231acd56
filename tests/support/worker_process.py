"""One queue-trigger invocation in a process of its own, as one Functions instance runs it.

``python -m tests.support.worker_process BODY --slow-apply SECONDS --trace FILE`` hands
``BODY`` (a work-queue message) to function_app's queue trigger with the app settings of the
environment. Test hook, outside the product code: every PostgreSQL ``apply`` takes at least
``SECONDS`` and appends ``start end`` (monotonic-independent wall times) to ``FILE``, so a
test can see how many rotations were in flight on the target at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def install_slow_apply(seconds: float, trace: Path) -> None:
    from rotators.postgres import PostgresRotator

    original = PostgresRotator.apply

    def slow(self: PostgresRotator, *args: Any) -> Any:
        start = time.time()
        time.sleep(seconds)
        try:
            return original(self, *args)
        finally:
            with trace.open("a") as out:
                out.write(f"{start} {time.time()}\n")

    PostgresRotator.apply = slow  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("body")
    parser.add_argument("--slow-apply", type=float, default=0.0)
    parser.add_argument("--trace", type=Path, required=True)
    args = parser.parse_args(argv)
    install_slow_apply(args.slow_apply, args.trace)

    import function_app
    from tests.support.functions_host import queue_input

    trigger = {f.get_function_name(): f for f in function_app.app.get_functions()}
    trigger["rotation_worker"].get_user_function()(queue_input(args.body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
