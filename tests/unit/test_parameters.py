import pytest

from flowport.domain.processes import (
    Output,
    check_key,
    parse_outputs,
    parse_parameters,
    render_outputs,
    validate_variables,
)
from flowport.errors import BadInput, InvalidParameters

PARAMS = parse_parameters([
    {"name": "name", "type": "text", "required": True, "max_length": 5},
    {"name": "count", "type": "integer", "default": 3},
    {"name": "price", "type": "decimal"},
    {"name": "vip", "type": "boolean"},
    {"name": "when", "type": "datetime"},
    {"name": "ref", "type": "uuid"},
    {"name": "blob", "type": "json"},
])


def test_defaults_and_coercion():
    out = validate_variables(PARAMS, {
        "name": "Ann", "price": "12.50", "vip": "true", "when": "2026-01-05T10:00:00Z",
        "ref": "5F0C1D0E-8C4B-4F63-9E55-3F9E0D1C2B3A", "blob": [1, {"a": 2}], "extra": 1,
    })
    assert out == {
        "name": "Ann", "count": 3, "price": "12.50", "vip": True,
        "when": "2026-01-05T10:00:00+00:00", "ref": "5f0c1d0e-8c4b-4f63-9e55-3f9e0d1c2b3a",
        "blob": [1, {"a": 2}], "extra": 1,
    }


@pytest.mark.parametrize(("variables", "field", "message"), [
    ({}, "name", "required"),
    ({"name": "toolong"}, "name", "longer than 5"),
    ({"name": 5}, "name", "text"),
    ({"name": "a", "count": "x"}, "count", "integer"),
    ({"name": "a", "count": True}, "count", "integer"),
    ({"name": "a", "price": "NaN"}, "price", "finite"),
    ({"name": "a", "price": "abc"}, "price", "decimal"),
    ({"name": "a", "vip": "yes"}, "vip", "true or false"),
    ({"name": "a", "when": "yesterday"}, "when", "date-time"),
    ({"name": "a", "ref": "nope"}, "ref", "UUID"),
])
def test_bad_values_name_their_field(variables, field, message):
    with pytest.raises(InvalidParameters, match=message) as caught:
        validate_variables(PARAMS, variables)
    assert caught.value.field == field


@pytest.mark.parametrize("raw", [
    "x", [{"type": "text"}], [{"name": "a", "type": "colour"}],
    [{"name": "a"}, {"name": "a"}], [{"name": "a", "max_length": 0}],
    [{"name": "a", "type": "integer", "default": "x"}], [{"name": "a", "required": "yes"}],
])
def test_bad_declarations(raw):
    with pytest.raises(BadInput):
        parse_parameters(raw)


def test_output_templates():
    assert parse_outputs(["a"]) == (Output("a", "a"),)
    assert parse_outputs({"List": "contacts"}) == (Output("List", "contacts"),)
    template = parse_outputs([{"name": "Total", "variable": "sum"}, "missing"])
    assert render_outputs(template, {"sum": 3, "other": 1}) == {"Total": 3, "missing": None}
    with pytest.raises(BadInput):
        parse_outputs([{"name": ""}])


@pytest.mark.parametrize("key", ["", "1abc", "a b", "x" * 129, None, "a/b"])
def test_bad_keys(key):
    with pytest.raises(BadInput):
        check_key(key)


def test_good_key():
    assert check_key("order-routing.v2") == "order-routing.v2"
