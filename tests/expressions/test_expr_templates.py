"""Templates, compiled values and the compile cache."""

from __future__ import annotations

import pytest

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import (
    CompiledValue,
    Template,
    compile_template,
    compile_value,
    expression_problems,
)

SCOPE = {"$input": {"n": 5, "name": "Ada", "obj": {"a": 1}, "list": [1, "x"], "none": None}}


def test_static_text_is_returned_as_is():
    """Text without {{ is static and evaluates to itself."""
    template = compile_template("plain text")
    assert template.is_static is True
    assert template.evaluate(SCOPE) is template.source


def test_single_expression_keeps_its_type():
    """A string that is exactly one {{ }} yields the typed value."""
    assert compile_template("{{ $input.n }}").evaluate(SCOPE) == 5
    assert compile_template("  {{ $input.obj }}\n").evaluate(SCOPE) == {"a": 1}
    assert compile_template("{{ $input.none }}").evaluate(SCOPE) is None


def test_mixed_text_renders_a_string():
    """Text around expressions renders as a string."""
    assert compile_template("n={{ $input.n }}!").evaluate(SCOPE) == "n=5!"
    assert compile_template("{{ 1 }}{{ 2 }}").evaluate(SCOPE) == "12"


def test_mixed_text_conversions_follow_n8n():
    """null and undefined render empty, objects and arrays as JSON."""
    rendered = compile_template(
        "[{{ $input.none }}|{{ $input.missing }}|{{ $input.obj }}|{{ $input.list }}|{{ true }}]"
    ).evaluate(SCOPE)
    assert rendered == '[||{"a":1}|[1,"x"]|true]'


def test_numbers_render_as_javascript_prints_them():
    """Floats render with JavaScript's digits: 0.5, 1e21, NaN, Infinity."""
    render = compile_template("{{ 1/2 }} {{ 1e21 }} {{ 0/0 }} {{ 1/0 }} {{ 1e-7 }} {{ 2.50 }}")
    assert render.evaluate({}) == "0.5 1e+21 NaN Infinity 1e-7 2.5"


def test_braces_inside_expressions():
    """Object literals and quoted braces inside {{ }} do not end it early."""
    assert compile_template("{{ {a: {b: 1}} }}").evaluate({}) == {"a": {"b": 1}}
    assert compile_template('{{ "}}" }}').evaluate({}) == "}}"


def test_unterminated_braces_are_an_error():
    """An opening {{ without }} fails to compile with its column."""
    with pytest.raises(ExpressionError, match="unterminated") as caught:
        compile_template("Hello {{ $input.name")
    assert caught.value.column == 7


def test_empty_braces_are_an_error():
    """{{ }} with nothing inside is an error."""
    with pytest.raises(ExpressionError, match="empty expression"):
        compile_template("a {{ }} b")


def test_parse_error_carries_body_and_column():
    """A parse error names the {{ }} body and the 1-based column in it."""
    with pytest.raises(ExpressionError) as caught:
        compile_template("x {{ $input.a + * 2 }}")
    assert caught.value.expression == "$input.a + * 2"
    assert caught.value.column == 12
    assert caught.value.code == "EXPRESSION_ERROR"


def test_templates_are_cached():
    """Compiling the same text twice returns the same compiled object."""
    assert compile_template("{{ 1 + 1 }} cached") is compile_template("{{ 1 + 1 }} cached")
    assert isinstance(compile_template("x"), Template)


def test_compiled_value_without_expressions_is_returned_unchanged():
    """resolve() returns the very same object when nothing is dynamic."""
    config = {"url": "https://x.test", "headers": {"A": "b"}, "n": [1, 2]}
    compiled = compile_value(config)
    assert isinstance(compiled, CompiledValue)
    assert compiled.has_expressions is False
    assert compiled.resolve(SCOPE) is config


def test_compiled_value_resolves_every_template():
    """resolve() evaluates each string and keeps static parts."""
    config = {"url": "https://x.test/{{ $input.n }}", "body": {"n": "{{ $input.n }}"}, "k": 1}
    compiled = compile_value(config)
    assert compiled.has_expressions is True
    assert compiled.resolve(SCOPE) == {"url": "https://x.test/5", "body": {"n": 5}, "k": 1}
    assert config["body"] == {"n": "{{ $input.n }}"}


def test_compiled_value_error_names_the_path():
    """A runtime error inside resolve names the config path of the failing string."""
    config = {"headers": {"Authorization": "Bearer {{ $input.missing.token }}"}}
    with pytest.raises(ExpressionError) as caught:
        compile_value(config).resolve(SCOPE)
    assert caught.value.path == "config.headers.Authorization"
    with pytest.raises(ExpressionError) as caught:
        compile_value({"items": [1, 2, "{{ $input.none.x }}"]}).resolve(SCOPE, path="nodes[0]")
    assert caught.value.path == "nodes[0].items[2]"


def test_odd_keys_are_bracketed_in_paths():
    """Keys that are not identifiers appear as ["key"] in paths."""
    with pytest.raises(ExpressionError) as caught:
        compile_value({"Content-Type": "{{ $x.y }}"}).resolve({})
    assert caught.value.path == 'config["Content-Type"]'


def test_expression_problems_lists_every_bad_string():
    """expression_problems reports each string that fails to parse, with field paths."""
    value = {"url": "{{ $input. }}", "list": ["ok", "{{ 1 + }}"], "good": "{{ 1 }}"}
    problems = expression_problems(value, "nodes[2].config")
    assert [p["field"] for p in problems] == ["nodes[2].config.list[1]", "nodes[2].config.url"]
    assert problems[0]["message"] == "unexpected end of expression at column 4 in '1 +'"


def test_expression_problems_on_valid_value_is_empty():
    """A value whose expressions all parse has no problems."""
    assert expression_problems({"a": ["{{ $input.x }}", 3, None]}, "config") == []


def test_unknown_function_is_a_compile_error():
    """Calling an unknown $-function fails at compile time naming it."""
    problems = expression_problems("{{ $nosuch(1) }}", "config.x")
    assert problems == [
        {"field": "config.x", "message": "unknown function $nosuch at column 1 in '$nosuch(1)'"}
    ]


@pytest.mark.parametrize("value", [None, 3, ["{{ 1 }}"]])
def test_non_string_templates_are_expression_errors(value):
    """Compiling something that is not a string is an ExpressionError, not a TypeError."""
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_template(value)
