"""Schemathesis over the OpenAPI document: generated requests, zero 5xx and zero responses that
break the schema. Bounded examples per operation so CI stays quick.

Driven through Hypothesis directly: schemathesis' pytest plugin does not load under pytest 9."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flowport.api.app import create_app

EXAMPLES = 12
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_holds_its_schema(ctx, admin_token):
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(ctx))
    headers = {"Authorization": f"Bearer {admin_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                 response.text)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == [], "\n\n".join(failures)
