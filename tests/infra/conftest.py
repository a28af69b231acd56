"""Fixtures for the infrastructure tests: the parsed Bicep templates, parsed once per session."""

from __future__ import annotations

import pytest

from tests.infra.templates import Template, load_templates


@pytest.fixture(scope="session")
def templates() -> dict[str, Template]:
    """Every ``infra/**/*.bicep``, keyed by path relative to ``infra/`` (``modules/x.bicep``)."""
    return load_templates()


@pytest.fixture(scope="session")
def main_template(templates: dict[str, Template]) -> Template:
    """``infra/main.bicep``."""
    return templates["main.bicep"]
