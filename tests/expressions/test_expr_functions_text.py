"""String, encoding and utility $-functions."""

from __future__ import annotations

import re

import pytest

from linkflow_engine._exceptions import ExpressionError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$uppercase('abc')", "ABC"),
        ("$uppercase(12)", "12"),
        ("$lowercase('AbC')", "abc"),
        ("$capitalize('hello world')", "Hello world"),
        ("$capitalize('')", ""),
        ("$trim('  a b  ')", "a b"),
        ("$split('a,b,c', ',')", ["a", "b", "c"]),
        ("$split('abc', '')", ["a", "b", "c"]),
        ("$split('abc')", ["abc"]),
        ("$split('a,b,c', ',', 2)", ["a", "b"]),
        ("$join(['a', 1, null, true], '-')", "a-1--true"),
        ("$join([])", ""),
        ("$join(['a', 'b'])", "a,b"),
        ("$replace('a-b-a', 'a', 'x')", "x-b-x"),
        ("$replace('abc', 'z', 'x')", "abc"),
        ("$substring('abcdef', 1, 3)", "bc"),
        ("$substring('abcdef', 3, 1)", "bc"),
        ("$substring('abcdef', -2)", "abcdef"),
        ("$substring('abcdef', 4)", "ef"),
        ("$length('abc')", 3),
        ("$length([1, 2])", 2),
        ("$length({a: 1})", 1),
        ("$length('')", 0),
        ("$contains('hello', 'ell')", True),
        ("$contains([1, 2], 2)", True),
        ("$contains([1, 2], '2')", False),
        ("$contains({a: 1}, 'a')", True),
        ("$startsWith('hello', 'he')", True),
        ("$startsWith('hello', 'lo')", False),
        ("$endsWith('hello', 'lo')", True),
        ("$padStart('5', 3, '0')", "005"),
        ("$padStart(42, 5)", "   42"),
        ("$padStart('abc', 2, '0')", "abc"),
        ("$padStart('x', 6, 'ab')", "ababax"),
        ("$padEnd('5', 3, '0')", "500"),
        ("$padEnd('x', 3, '')", "x"),
    ],
)
def test_string_functions(evaluate, text, expected):
    """The string functions with normal and edge input."""
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$base64Encode('hello')", "aGVsbG8="),
        ("$base64Encode('é')", "w6k="),
        ("$base64Decode('aGVsbG8=')", "hello"),
        ("$base64Decode('aGVsbG8')", "hello"),
        ("$base64Decode('w6k')", "é"),
        ("$urlEncode('a b&c=d/é')", "a%20b%26c%3Dd%2F%C3%A9"),
        ('$urlEncode("it\'s (ok)!")', "it's%20(ok)!"),
        ("$urlDecode('a%20b%26c')", "a b&c"),
        ("$md5('hello')", "5d41402abc4b2a76b9719d911017c592"),
        ("$sha256('')", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("$escape('<a href=\"x\">&</a>')", "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"),
        ("$unescape('&lt;b&gt; &amp; &#39;')", "<b> & '"),
        ("$slug('Héllo, World!  2024')", "hello-world-2024"),
        ("$slug('---')", ""),
    ],
)
def test_encoding_and_utility_functions(evaluate, text, expected):
    """Encoding, hashing, HTML escaping and slugs."""
    assert evaluate(text) == expected


def test_uuid_is_random_v4(evaluate):
    """$uuid() gives a new version-4 UUID each call."""
    first, second = evaluate("$uuid()"), evaluate("$uuid()")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert first != second


def test_invalid_base64_is_an_error(evaluate):
    """Invalid base64 is an ExpressionError naming the function."""
    with pytest.raises(ExpressionError, match=r"\$base64Decode: argument 1 is not valid base64"):
        evaluate("$base64Decode('!!!')")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$uppercase(null)", r"\$uppercase: argument 1 must be a string, got null"),
        ("$uppercase($input.missing)", r"\$uppercase: argument 1 must be a string, got undefined"),
        ("$trim([1])", r"\$trim: argument 1 must be a string, got array"),
        ("$padStart('a', 'x')", r"\$padStart: argument 2 must be a number, got string 'x'"),
        ("$length(5)", r"\$length: argument 1 must be a string, array or object, got number"),
        ("$join('abc')", r"\$join: argument 1 must be an array, got string 'abc'"),
        ("$contains(1, 1)", r"\$contains: argument 1 must be a string, array or object"),
    ],
)
def test_wrong_argument_types(evaluate, text, message):
    """Wrong argument types raise ExpressionError naming the function, not TypeError."""
    with pytest.raises(ExpressionError, match=message) as caught:
        evaluate(text)
    assert caught.value.column == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$uppercase()", r"\$uppercase expects 1 argument, got 0"),
        ("$uppercase('a', 'b')", r"\$uppercase expects 1 argument, got 2"),
        ("$padStart('a')", r"\$padStart expects 2 to 3 arguments, got 1"),
        ("$merge()", None),
    ],
)
def test_arity_is_checked_at_compile_time(text, message):
    """A wrong number of arguments fails when compiling."""
    from linkflow_engine.expressions import compile_expression

    if message is None:
        assert compile_expression(text).evaluate({}) == {}
        return
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text)
