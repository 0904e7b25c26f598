"""schemathesis against the API's own OpenAPI schema, on read models of the demo chain, with a
market operator's token (the widest access), a bounded number of examples per operation:

* every answer conforms to the documented schema (status codes, content types, bodies) and
  none is a 5xx, in both modes;
* positive mode (schema-valid requests only): no valid request is refused; the only answers
  besides 200 are those that depend on who asks or what exists (401, 403, 404), never a 4xx
  saying the request is malformed;
* negative mode (requests the schema calls invalid): each is refused, so the server is no
  more lenient than its schema either (no parameter the schema does not describe, no value
  outside it, is taken silently).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.api_helpers import bearer

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ACCEPTED = {200, 401, 403, 404}
"""What a schema-valid request may get: an answer, or a refusal for who asks or what exists."""


def valid_request_accepted(ctx: Any, response: Any, case: Any) -> None:
    """Positive mode: a schema-valid request is never refused as malformed."""
    del ctx
    assert response.status_code in ACCEPTED, (
        f"schema-valid request refused: {case.method} {case.formatted_path} {case.query} -> "
        f"{response.status_code} {response.text[:300]}"
    )


def invalid_request_refused(ctx: Any, response: Any, case: Any) -> Any:
    """Negative mode: a request the schema calls invalid is refused. Except where
    schemathesis's mutation of a discriminated union (PUT /profile's assets: a battery or a
    device by ``kind``) produces a body that the union still accepts: in CI it reported
    ``{"kind": "heat-pump", "power_kw": ...}`` as violating the device branch's ``kind`` enum.
    Such a body is checked against the model the schema is generated from (ProfileIn) and, if
    valid, is not a negative case; everything else goes to schemathesis's own check."""
    if case.operation.label == "PUT /profile" and isinstance(case.body, dict) and not case.query:
        from pydantic import ValidationError

        from api.schemas import ProfileIn

        try:  # strict: a string for a number, say, stays a negative case
            ProfileIn.model_validate_json(json.dumps(case.body), strict=True)
        except ValidationError:
            pass
        else:
            return None
    return negative_data_rejection(ctx, response, case)


def _operations(client: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    # An endless stream cannot be called to completion: tested in test_api_server.py.
    schema = schema.exclude(path="/events/stream")
    # The bearer token is the test's own (``headers``), never generated: a negative case that
    # only drops the security header would be sent with the token all the same and answered.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    return operations


def _run(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    checks: list[Any],
    statuses: Counter[tuple[str, int]],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=checks)
        statuses[(operation.label, response.status_code)] += 1

    run()


def test_no_valid_request_is_refused(client, tokens):
    headers = bearer(tokens["market-operator"])
    operations = _operations(client)
    statuses: Counter[tuple[str, int]] = Counter()
    checks = [*CHECKS, positive_data_acceptance, valid_request_accepted]
    for operation in operations:
        _run(operation, GenerationMode.POSITIVE, headers, checks, statuses)
    called = {label for label, _ in statuses}
    assert called == {op.label for op in operations}
    assert sum(statuses.values()) > 10 * len(operations)
    assert {status for _, status in statuses} <= ACCEPTED
    # The valid requests reach the data (not only refusals): the operator's reads answer.
    answered = {label for (label, status) in statuses if status == 200}
    must = ["/health", "/auth/nonce", "/auth/me", "/participants", "/sessions", "/orders"]
    must += ["/matches", "/matches/summary", "/balances", "/requests", "/events"]
    assert {f"GET {path}" for path in must} <= answered


def test_invalid_requests_are_refused_and_answers_match_the_schema(client, tokens):
    headers = bearer(tokens["market-operator"])
    operations = _operations(client)
    statuses: Counter[tuple[str, int]] = Counter()
    no_negative: list[str] = []
    for operation in operations:
        try:
            _run(
                operation,
                GenerationMode.NEGATIVE,
                headers,
                [*CHECKS, invalid_request_refused],
                statuses,
            )
        except Unsatisfiable:
            # No invalid input exists for an operation without inputs (e.g. /health).
            no_negative.append(operation.label)
    assert {label for label, _ in statuses} | set(no_negative) == {op.label for op in operations}
    assert sum(statuses.values()) > 10 * (len(operations) - len(no_negative))
    # Operations without any input but the token: no request to them can be invalid.
    assert set(no_negative) <= {
        f"GET {path}"
        for path in (
            "/health",
            "/auth/nonce",
            "/auth/me",
            "/profile",
            "/config",
            "/clusters",
            "/clusters/report",
            "/dashboards/operator",
            "/twin",
            "/twin/model",
            "/control/compare",
            "/control/status",
            "/control/community",
        )
    }, no_negative
    assert statuses[("GET /sessions", 422)] > 0  # what refuses the invalid ones
