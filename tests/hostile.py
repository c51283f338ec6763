"""Hostile YAML for the tests: inputs that must fail at once with a clear message."""

from __future__ import annotations

import itertools
import re


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs": each level an anchored list of nine aliases of the one above, so
    the last expands to 9**levels strings from a text of a few hundred bytes."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for above, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{above}'] * 9)}]")
    return "\n".join(lines) + "\n"


#: Flow collections nested far deeper than any file of ours.
DEEP_NESTING = "[" * 100_000


#: pydantic's own phrasing (https://docs.pydantic.dev/2.11/errors/validation_errors/) and
#: placeholders: none may reach a user.
_NOT_OUR_WORDS = re.compile(
    r"Input should be|Input tag|Field required|String should|Value error|Unable to extract"
    r"|valid dictionary|Extra inputs|errors\.pydantic\.dev|<stack>|Pulumi\.<"
)


def assert_in_our_words(message: str) -> None:
    """Fail if ``message`` speaks pydantic or holds a placeholder such as ``<stack>``."""
    found = _NOT_OUR_WORDS.search(message)
    assert found is None, f"{found.group(0)!r} in:\n{message}"
