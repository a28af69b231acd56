"""Custom topic HTTP rules, on the wire: bad input gets Event Grid's answer, not a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulators.clock import Clock
from emulators.eventgrid.topics import Topic, TopicService
from emulators.wire import Request, Response

CLOUD_EVENT = {"specversion": "1.0", "id": "1", "source": "/app", "type": "T", "data": {}}


@pytest.fixture
def service() -> TopicService:
    return TopicService(Clock())


@pytest.fixture
def topic(service: TopicService) -> Topic:
    return service.create_topic("outcomes")


def post(
    service: TopicService,
    topic: Topic,
    body: Any,
    *,
    content_type: str = "application/cloudevents-batch+json; charset=utf-8",
    headers: dict[str, str] | None = None,
    target: str = "/api/events?api-version=2018-01-01",
    method: str = "POST",
) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = {"aeg-sas-key": topic.key} if headers is None else headers
    all_headers = {"content-type": content_type, **auth}
    return service.handle(Request(method, topic.host, target, all_headers, raw))


def error_code(response: Response) -> str:
    return str(json.loads(response.body)["error"]["code"])


def test_single_and_batch_cloud_events_are_kept(service: TopicService, topic: Topic) -> None:
    single = post(service, topic, CLOUD_EVENT, content_type="application/cloudevents+json")
    batch = post(service, topic, [{**CLOUD_EVENT, "id": "2"}, {**CLOUD_EVENT, "id": "3"}])
    assert (single.status, batch.status) == (200, 200)
    assert [e["id"] for e in topic.received()] == ["1", "2", "3"]


def test_missing_credentials_are_refused(service: TopicService, topic: Topic) -> None:
    request = Request(
        "POST",
        topic.host,
        "/api/events?api-version=2018-01-01",
        {"content-type": "application/cloudevents-batch+json"},
        json.dumps([CLOUD_EVENT]).encode(),
    )
    response = service.handle(request)
    assert response.status == 401 and error_code(response) == "Unauthorized"
    assert "aeg-sas-key" in json.loads(response.body)["error"]["message"]


def test_bearer_token_without_validator_is_refused(service: TopicService, topic: Topic) -> None:
    response = post(
        service,
        topic,
        [CLOUD_EVENT],
        headers={"authorization": "Bearer abc"},
    )
    assert response.status == 401
    assert "Bearer tokens are not configured" in json.loads(response.body)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/cloudevents-batch+json", 400, "BadRequest"),
        (
            [{"id": "1", "source": "/a", "type": "T"}],
            "application/cloudevents-batch+json",
            400,
            "BadRequest",
        ),
        ([{**CLOUD_EVENT, "id": ""}], "application/cloudevents-batch+json", 400, "BadRequest"),
        ([CLOUD_EVENT], "text/plain", 400, "BadRequest"),
        (
            b"x" * (1024 * 1024 + 1),
            "application/cloudevents-batch+json",
            413,
            "RequestEntityTooLarge",
        ),
    ],
)
def test_bad_requests_get_event_grid_errors(
    service: TopicService,
    topic: Topic,
    body: Any,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = post(service, topic, body, content_type=content_type)
    assert (response.status, error_code(response)) == (status, code)
    assert topic.received() == []


def test_path_method_and_api_version(service: TopicService, topic: Topic) -> None:
    assert post(service, topic, [CLOUD_EVENT], target="/api/other?api-version=1").status == 404
    assert post(service, topic, [CLOUD_EVENT], method="GET").status == 405
    missing = post(service, topic, [CLOUD_EVENT], target="/api/events")
    assert missing.status == 400 and "api-version" in json.loads(missing.body)["error"]["message"]


def test_event_grid_schema_events_are_checked(service: TopicService) -> None:
    topic = service.create_topic("egschema", input_schema="EventGridSchema")
    good = {
        "id": "1",
        "subject": "s",
        "eventType": "T",
        "eventTime": "2026-11-23T10:00:00Z",
        "data": {},
        "dataVersion": "1",
    }
    ok = post(service, topic, [good], content_type="application/json")
    assert ok.status == 200
    assert topic.received()[0]["topic"] == topic.resource_id
    bad_time = post(
        service, topic, [{**good, "eventTime": "yesterday"}], content_type="application/json"
    )
    assert bad_time.status == 400
    not_array = post(service, topic, good, content_type="application/json")
    assert not_array.status == 400


def test_topic_names_and_duplicates(service: TopicService, topic: Topic) -> None:
    with pytest.raises(ValueError, match="already exists"):
        service.create_topic("outcomes")
    with pytest.raises(ValueError, match="invalid topic name"):
        service.create_topic("no_underscores")
    assert topic.key not in repr(topic) and topic.key2 not in repr(topic)
