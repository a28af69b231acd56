"""The rotator registry (rotation/registry.py) and the built-in catalogue (rotators/catalogue.py):
duplicates refused, unknown kinds named, entry-point plugins found."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, DuplicateRotatorError
from rotation.registry import ENTRY_POINT_GROUP, RotatorRegistry, load_class
from rotation.rotator import Rotator
from rotation.testing import unique_name
from rotators.catalogue import BUILTIN, default_registry
from rotators.mysql import MySQLRotator
from rotators.postgres import PostgresRotator


class _Fake(Rotator):
    kind = "fake"

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        return candidate

    def verify(self, credential: Credential) -> None:
        return None


class _OtherFake(_Fake):
    kind = "fake"


def test_register_and_get() -> None:
    registry = RotatorRegistry()
    registry.register(PostgresRotator)
    registry.register(MySQLRotator)
    assert registry.get("postgres") is PostgresRotator
    assert registry.get("mysql") is MySQLRotator
    assert registry.kinds() == ["mysql", "postgres"]


def test_registering_the_same_class_twice_is_harmless() -> None:
    registry = RotatorRegistry()
    registry.register(_Fake)
    registry.register(_Fake)
    assert registry.kinds() == ["fake"]


def test_a_second_class_for_a_kind_is_refused() -> None:
    registry = RotatorRegistry()
    registry.register(_Fake)
    with pytest.raises(DuplicateRotatorError, match="'fake' is already registered"):
        registry.register(_OtherFake)
    assert registry.get("fake") is _Fake


def test_classes_without_kind_or_not_rotators_are_refused() -> None:
    registry = RotatorRegistry()

    class NoKind(_Fake):
        kind = ""

    with pytest.raises(TypeError):
        registry.register(NoKind)
    with pytest.raises(TypeError):
        registry.register(type("NotARotator", (), {"kind": "x"}))


def test_unknown_kind_names_the_known_kinds() -> None:
    registry = RotatorRegistry()
    registry.register(PostgresRotator)
    registry.register(MySQLRotator)
    with pytest.raises(ConfigurationError) as raised:
        registry.get("oracle", secret="db-secret")
    message = str(raised.value)
    assert "unknown rotator kind 'oracle'" in message
    assert "known: mysql, postgres" in message
    assert raised.value.tag == "rotation-rotator"
    assert raised.value.secret == "db-secret"


def test_load_class_checks_the_type() -> None:
    assert load_class("rotators.postgres:PostgresRotator") is PostgresRotator
    with pytest.raises(TypeError):
        load_class("rotators.postgres:MAX_NAME_BYTES")


def test_builtin_specs_load() -> None:
    for kind, spec in BUILTIN.items():
        assert load_class(spec).kind == kind


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[str]:
    """A throwaway installed distribution with one rotator in the entry-point group."""
    kind = unique_name("plugin").replace("_", "-")
    module = unique_name("kv_plugin")
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            from rotation.rotator import Rotator

            class PluginRotator(Rotator):
                kind = "{kind}"

                def apply(self, current, candidate):
                    return candidate

                def verify(self, credential):
                    return None
            """
        )
    )
    dist_info = tmp_path / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{kind} = {module}:PluginRotator\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield kind
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module, None)


def test_default_registry_finds_entry_point_plugins(plugin_dist: str) -> None:
    registry = default_registry()
    cls = registry.get(plugin_dist)
    assert cls.kind == plugin_dist and issubclass(cls, Rotator)
    assert plugin_dist not in default_registry(include_plugins=False).kinds()


def test_a_plugin_cannot_take_a_builtin_kind(tmp_path: Path) -> None:
    if "postgres" not in BUILTIN:
        pytest.skip("postgres is not yet in BUILTIN")
    dist_info = tmp_path / "evil-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\npostgres = tests.rotators.test_registry:_Evil\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(DuplicateRotatorError):
            default_registry()
    finally:
        sys.path.remove(str(tmp_path))


class _Evil(_Fake):
    kind = "postgres"
