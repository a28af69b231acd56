"""The ``rabbitmq`` rotator's management API calls over verified https.

The machine's broker serves its management API over plain HTTP only, so these tests put an
HTTPS reverse proxy in front of it (tests/support/https_proxy.py) with a certificate for
``localhost`` from a local CA: the rotator verifies the chain and host name exactly as it
would against a broker with ``management.ssl`` configured. AMQP stays plain on loopback
(a TLS AMQP listener would need the shared broker reconfigured).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import unique_name
from rotators.rabbitmq import RabbitMqRotator
from tests.rotators.test_rabbitmq import Broker, amqp_login
from tests.support.https_proxy import HttpsReverseProxy
from tests.support.rotator_tests import rotator_context
from tests.support.tls import WRONG_HOST, ServerCA

ADMIN = Credential(password="guest", username="guest")


def _context(management: str, options: dict[str, str] | None = None) -> RotatorContext:
    target = f"amqp://127.0.0.1:5672/%2F?management={management}"
    return rotator_context(RabbitMqRotator, "rabbit-tls", target, admin=ADMIN, options=options)


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.cleanup()


def test_rotates_through_verified_https(
    rabbit_https: HttpsReverseProxy, server_ca: ServerCA, broker: Broker
) -> None:
    login = broker.make_user(unique_name("tls"), tags="monitoring")
    before = rabbit_https.requests
    rotator = RabbitMqRotator(_context(rabbit_https.url(), {"tls-ca": str(server_ca.ca_path)}))
    try:
        candidate = rotator.generate(login)
        rotator.apply(login, candidate)
        rotator.verify(candidate)
    finally:
        rotator.close()
    assert rabbit_https.requests > before  # the management calls went through https
    assert amqp_login(candidate) and not amqp_login(login)
    user = broker.user(login.username or "")
    assert user is not None and user["tags"] in (["monitoring"], "monitoring")


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name", "system store"])
def test_unverified_management_api_is_a_configuration_error(
    rabbit_https: HttpsReverseProxy,
    server_ca: ServerCA,
    wrong_ca: Path,
    broker: Broker,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROTATION_TLS_CA_FILE", raising=False)
    login = broker.make_user(unique_name("tls"))
    management, options = {
        "wrong CA": (rabbit_https.url(), {"tls-ca": str(wrong_ca)}),
        "wrong host name": (rabbit_https.url(WRONG_HOST), {"tls-ca": str(server_ca.ca_path)}),
        "system store": (rabbit_https.url(), {}),
    }[case]
    before = rabbit_https.requests
    rotator = RabbitMqRotator(_context(management, options))
    try:
        candidate = rotator.generate(login)
        with pytest.raises(ConfigurationError) as raised:
            rotator.apply(login, candidate)
    finally:
        rotator.close()
    assert raised.value.tag == "rotation-tls-ca"
    for value in (login.password, candidate.password):
        assert value not in str(raised.value)
    assert rabbit_https.requests == before  # no request (no Basic credentials) got through
    assert amqp_login(login)


# ------------------------------------------------------------------ configuration (no I/O)


@pytest.mark.parametrize(
    ("target", "options"),
    [
        ("amqp://mq.example.net", {}),  # AMQP PLAIN in clear over the network
        ("amqps://mq.example.net?management=http://mq.example.net:15672", {}),
        ("amqp://127.0.0.1?management=http://mq.example.net:15672", {}),
        ("amqp://127.0.0.1", {"tls-ca": "system"}),  # a CA nothing would use
        ("amqps://mq.example.net", {"tls-ca": "relative.pem"}),
    ],
)
def test_cleartext_or_contradictory_targets_are_refused(
    target: str, options: dict[str, str]
) -> None:
    context = RotatorContext(
        secret_name="s",
        target=target,
        strategy=Strategy.SINGLE,
        policy=RabbitMqRotator.default_policy,
        options=options,
    )
    with pytest.raises(ConfigurationError) as raised:
        RabbitMqRotator.check_config(context)
    assert raised.value.tag in ("rotation-target", "rotation-tls-ca")
