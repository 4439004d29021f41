"""The docs-example extractor on synthetic markdown: what it finds, and that a wrong example fails its check."""

from pathlib import Path

import pytest

from tests import test_docs as checks
from tests.doc_examples import Block, blocks_of, commands_of, json_values, mismatches, shown_value

SYNTHETIC = Path("synthetic.md")
MARKDOWN = """# A guide

```graphql
{ products(first: 5) { nodes { key name } } }
```

<!-- docs-test: skip a sketch of a future API -->
```graphql
{ futureField }
```

<!-- docs-test: check cost -->
```json
{"data": {...}}
```

```sh
TOKEN=$(curl -s http://localhost:8000/graphql -H 'Content-Type: application/json' -d '{
  "query": "{ viewer { user { id } } }"}' | jq -r .data)
curl -s http://localhost:8000/graphql \\
  -d '{"query": "{ x }"}' | jq '.errors'
# [{"message": "Cannot query field ...", "extensions": {...}}]
```

```sh
prism db upgrade
make test
```

```
untagged
```
"""


def _block(info: str, text: str) -> Block:
    return Block(path=SYNTHETIC, line=1, info=info, text=text)


def test_each_fenced_block_is_found_with_its_line_info_string_and_marker() -> None:
    blocks = blocks_of(MARKDOWN, SYNTHETIC)

    assert [(b.line, b.info, b.kind) for b in blocks] == [
        (3, "graphql", "graphql"),
        (8, "graphql", "skip"),
        (13, "json", "check:cost"),
        (17, "sh", "session"),
        (25, "sh", "commands"),
        (30, "", "unknown"),
    ]
    assert blocks[1].marker == ("skip", "a sketch of a future API")
    assert blocks[0].text == "{ products(first: 5) { nodes { key name } } }\n"


def test_a_fence_left_open_is_an_error_not_a_silently_dropped_example() -> None:
    with pytest.raises(ValueError, match="never closed"):
        blocks_of("```sh\nprism serve\n", SYNTHETIC)


def test_a_session_is_cut_into_whole_commands_each_with_the_output_it_shows() -> None:
    session = blocks_of(MARKDOWN, SYNTHETIC)[3]

    commands = list(commands_of(session))

    assert [c.line for c in commands] == [18, 20]
    assert commands[0].text.endswith("| jq -r .data)")
    assert commands[0].shown_output is None
    assert commands[1].shown_output == '[{"message": "Cannot query field ...", "extensions": {...}}]'


def test_shown_output_matches_on_its_stable_parts_and_fails_on_anything_else() -> None:
    shown = shown_value('[{"field": ["input", "version"], "code": "CONFLICT", "message": "Changed by someone ..."}]')
    answer = [{"field": ["input", "version"], "code": "CONFLICT", "message": "Changed by someone else, read again"}]

    assert mismatches(shown, answer) == []
    assert mismatches(shown, [{**answer[0], "code": "INVALID_STATE"}]) == [
        "$[0].code: 'INVALID_STATE' is not 'CONFLICT'"
    ]
    assert mismatches(shown, [{**answer[0], "extra": 1}])
    assert mismatches(shown, answer * 2)
    assert mismatches(shown_value('{"data": {...}}'), {"data": {"anything": [1]}}) == []
    assert json_values('{"a": 1}\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    assert json_values("PRISM-1\tReporting\n") == []


def test_a_graphql_example_naming_a_field_the_schema_lacks_fails() -> None:
    checks.test_graphql_documents_are_valid_against_the_schema(
        _block("graphql", "{ products(first: 5) { nodes { key } } }")
    )
    with pytest.raises(AssertionError, match="Cannot query field 'keyz'"):
        checks.test_graphql_documents_are_valid_against_the_schema(_block("graphql", "{ products { nodes { keyz } } }"))


def test_a_type_shown_with_a_wrong_field_type_fails() -> None:
    checks.test_type_definitions_shown_match_schema_graphql(
        _block("graphql", "type PageInfo {\n  hasNextPage: Boolean!\n}")
    )
    with pytest.raises(AssertionError, match="hasNextPage"):
        checks.test_type_definitions_shown_match_schema_graphql(
            _block("graphql", "type PageInfo {\n  hasNextPage: Int\n}")
        )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("prism serve --bogus", "has no option --bogus"),
        ("prism db currant", "has no subcommand 'currant'"),
        ("make runn", "no target 'runn'"),
        ("docker compose -f deploy/compose.yaml run --rm api prism seed --demo", "no service 'api'"),
        ("PRISM_NO_SUCH_SETTING=1 prism seed --demo", "PRISM_NO_SUCH_SETTING"),
        ("rm -rf build", "cannot check: rm"),
    ],
)
def test_a_command_that_does_not_exist_fails(line: str, problem: str) -> None:
    checks.test_the_commands_shown_exist_with_the_options_they_are_given(_block("sh", "prism db upgrade\nmake test\n"))
    with pytest.raises(AssertionError, match=problem):
        checks.test_the_commands_shown_exist_with_the_options_they_are_given(_block("sh", line + "\n"))
