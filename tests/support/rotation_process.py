"""One manual rotation in a process of its own, as a Functions worker would run it.

``python -m tests.support.rotation_process VAULT NAME [--pause-at N --marker PATH]
[--hang-renewal SECONDS]`` calls function_app's HTTP trigger once (POST, rotate now) with
the app settings of the environment, and prints ``{"status": ..., "body": ...}`` as JSON.

Test hooks, both outside the product code:

- ``--pause-at N``: just before the N-th lock check of the run (each check precedes a side
  effect: stage, apply, commit, retire, tag update), write ``--marker`` and stop this whole
  process with SIGSTOP, renewer thread included, as a frozen VM would be. The test resumes
  it with SIGCONT.
- ``--hang-renewal S``: every lease renewal hangs for S seconds, as a storage call stuck
  behind a dead connection would.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def install_pause(pause_at: int, marker: Path) -> None:
    """Freeze the process before the ``pause_at``-th call of ``HeldLock.ensure``."""
    from rotation.lock import HeldLock

    original = HeldLock.ensure
    calls = itertools.count(1)

    def pausing(self: HeldLock) -> None:
        if next(calls) == pause_at:
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)
        original(self)

    HeldLock.ensure = pausing  # type: ignore[method-assign]


def install_hanging_renewal(seconds: float) -> None:
    """Make every lease renewal hang for ``seconds``."""
    from azure.storage.blob import BlobLeaseClient

    def hanging(self: BlobLeaseClient, **kwargs: Any) -> None:
        time.sleep(seconds)

    BlobLeaseClient.renew = hanging  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("vault")
    parser.add_argument("name")
    parser.add_argument("--pause-at", type=int)
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--hang-renewal", type=float)
    args = parser.parse_args(argv)
    if args.pause_at is not None:
        install_pause(args.pause_at, args.marker)
    if args.hang_renewal is not None:
        install_hanging_renewal(args.hang_renewal)

    import azure.functions as func

    import function_app

    trigger = {f.get_function_name(): f for f in function_app.app.get_functions()}
    response = trigger["rotation_api"].get_user_function()(
        func.HttpRequest(
            method="POST",
            url=f"/api/rotations/{args.vault}/{args.name}",
            route_params={"vault": args.vault, "name": args.name},
            body=b"",
        )
    )
    body = json.loads(response.get_body() or b"{}")
    print(json.dumps({"status": response.status_code, "body": body}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
