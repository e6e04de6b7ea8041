"""web.Portal tells plain views and hooks from coroutine functions as Flask does, only at
once for a plain function: each is returned as it is, and anything else is Flask's to judge
(an `async def` view needs Flask's async extra, which the portal does not install)."""

import functools

import pytest
from flask import Flask

from web import Portal


def plain() -> str:
    return "plain"


async def coroutine() -> str:
    return "coroutine"


class Views:
    def method(self) -> str:
        return "method"

    async def coroutine_method(self) -> str:
        return "coroutine method"


def outcome(app: Flask, func):
    try:
        made = app.ensure_sync(func)
    except Exception as error:  # Flask's answer without asgiref
        return type(error), str(error)
    return "same" if made is func else "wrapped"


@pytest.mark.parametrize(
    "func",
    [
        plain,
        coroutine,
        Views().method,
        Views().coroutine_method,
        functools.partial(plain),
        functools.partial(coroutine),
        len,
        lambda: "lambda",
    ],
    ids=[
        "plain",
        "coroutine",
        "method",
        "coroutine-method",
        "partial",
        "partial-coroutine",
        "builtin",
        "lambda",
    ],
)
def test_each_callable_is_made_synchronous_as_flask_makes_it(func):
    assert outcome(Portal(__name__), func) == outcome(Flask(__name__), func)


def test_a_plain_function_is_returned_as_it_is():
    assert Portal(__name__).ensure_sync(plain) is plain
