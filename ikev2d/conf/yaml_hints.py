"""What to do about a YAML syntax error, in a network engineer's words.

PyYAML says what its parser expected ("expected <block end>, but found
'<block mapping start>'"); the person editing the file wants to know what
to change. Each hint matches the parser's own wording.
"""

from __future__ import annotations

# (words in PyYAML's problem or context, hint), first match wins
HINTS: tuple[tuple[str, str], ...] = (
    ("'\\t'", "YAML indents with spaces only: replace the tab with spaces"),
    ("mapping values are not allowed",
     "a second ':' on the line: quote a value that contains ': ' (\"...\"), or put the key on its own line"),
    ("could not find expected ':'", "a line that is neither 'key: value' nor '- item', or a key without ':'"),
    ("expected <block end>",
     "indentation: the keys of one mapping (and the '-' items of one list) must start in the same column"),
    ("did not find expected key",
     "indentation: the keys of one mapping (and the '-' items of one list) must start in the same column"),
    ("did not find expected '-'", "indentation: every item of a list starts with '-' in the same column"),
    ("quoted scalar", "a quote is not closed: end the value with the same quote it starts with"),
    ("flow sequence", "a [list] is not closed: end it with ']' on the same logical line, items separated by ','"),
    ("flow mapping", "a {mapping} is not closed: end it with '}'"),
    ("undefined alias", "'*' starts a YAML alias: quote a value that begins with '*'"),
    ("cannot start any token", "a value starts with a character YAML reserves (@, `, %, |, >): quote the value"),
    ("found duplicate anchor", "'&' starts a YAML anchor: quote a value that begins with '&'"),
)


def hint(*words: str | None) -> str | None:
    """The hint for a syntax error whose problem/context read `words`."""
    text = " ".join(w for w in words if w)
    for needle, advice in HINTS:
        if needle in text:
            return advice
    return None
