"""``with`` support shared by the emulators' long-running parts (and the tests' own servers).

A subclass defines :meth:`start`, which returns the started object, and :meth:`stop`, which
undoes it and may be called more than once; ``with part:`` then starts it and stops it on
the way out, whatever happened inside.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType
from typing import Self


class Lifecycle:
    """Mixin: ``__enter__`` is :meth:`start`, ``__exit__`` is :meth:`stop`."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def remove_tree(path: str | Path | None) -> None:
    """Remove a work directory and everything in it, if there is one."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
