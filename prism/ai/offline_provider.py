"""PRISM's offline model, registered with LiteLLM as the `prism-offline` provider: no network, no weights.

It answers deterministically from what it is given: a JSON schema's fields are filled from the sentences of the
request and of the retrieved context (so two different requests get different answers, and the same request the
same one), each cut to the schema's limits (a run-on brief gives a goal no longer than its `maxLength`); a markdown
outline (`<outline>` of `## ` headings) is filled section by section with the request's sentences nearest each
heading, and plain text is an extract of the request. It streams too, a line a chunk. It
cannot reason or invent; docs/ai.md says what that means for each feature. Every answer starts (text) or is marked
(the gateway's `offline`) as offline.
"""

import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from prism.ai.offline_features import shaped_answer
from prism.ai.prompts import SYSTEM_MESSAGE

__all__ = ["OFFLINE_PREFIX", "OFFLINE_PROVIDER", "offline_chunks", "offline_handler", "offline_reply"]

OFFLINE_PROVIDER = "prism-offline"
OFFLINE_PREFIX = "[offline]"
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_SCHEMA_BLOCK = re.compile(r"<schema>(.*?)</schema>", re.DOTALL)
_OUTLINE_BLOCK = re.compile(r"<outline>(.*?)</outline>", re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")
_CITATION = re.compile(r"^\[[^\]]+\]")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if len(s.strip().split()) >= 2]


def _pick(options: list[str], *salt: str) -> str:
    digest = hashlib.sha256("\x1f".join(salt).encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def _fill(schema: dict[str, Any], name: str, sentences: list[str], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in schema:
        schema = next((option for option in schema["anyOf"] if option.get("type") != "null"), {})
    if "enum" in schema:
        return _pick(list(schema["enum"]), name, *sentences[:3])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {key: _fill(value, key, sentences, defs) for key, value in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = min(3, max(1, len(sentences)), schema.get("maxItems", 3))
        count = max(count, schema.get("minItems", 0))
        rotated = [sentences[(i + len(name)) % len(sentences)] for i in range(count)] if sentences else [name] * count
        return [_fill(schema.get("items", {}), name, [sentence], defs) for sentence in rotated]
    if kind == "integer":
        words = sum(len(s.split()) for s in sentences)
        return min(max(int(schema.get("minimum", 0)), [1, 2, 3, 5, 8, 13][words % 6]), int(schema.get("maximum", 100)))
    if kind == "number":
        return float(round(sum(len(s) for s in sentences) % 100 / 10, 1))
    if kind == "boolean":
        return False
    text = _pick(sentences, name) if sentences else name.replace("_", " ")
    return f"{OFFLINE_PREFIX} {text}"


def _cut(text: str, limit: int) -> str:
    """`text` within `limit` characters: cut at a word boundary where one is near, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    kept = text[: max(limit - 1, 0)]
    space = kept.rfind(" ")
    if space > limit // 2:
        kept = kept[:space]
    return (kept.rstrip(" ,;:") + "…")[:limit]


def _fitted(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """`value` cut to the schema's limits (strings to `maxLength`, lists to `maxItems`, at every depth): what the
    offline model derives from a long request must still be an answer the schema accepts."""
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in schema:
        schema = next((option for option in schema["anyOf"] if option.get("type") != "null"), {})
    if isinstance(value, str) and "maxLength" in schema:
        return _cut(value, int(schema["maxLength"]))
    if isinstance(value, list):
        items = value[: int(schema["maxItems"])] if "maxItems" in schema else value
        return [_fitted(item, schema.get("items", {}), defs) for item in items]
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        return {key: _fitted(item, properties.get(key, {}), defs) for key, item in value.items()}
    return value


def _request_text(messages: list[dict[str, Any]]) -> str:
    # PRISM's fixed system message says how to read markers; it is not the request's content.
    parts = [
        str(m.get("content") or "")
        for m in messages
        if m.get("role") in ("user", "system") and m.get("content") != SYSTEM_MESSAGE
    ]
    return _OUTLINE_BLOCK.sub("", _SCHEMA_BLOCK.sub("", "\n".join(parts)))


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if len(word) > 2}


def _outline_reply(headings: list[str], messages: list[dict[str, Any]]) -> str:
    """Each heading followed by the request's sentences that share most words with it (the user's own first), and
    the cited context lines (`[KEY] ...`) under a heading about requirements."""
    user_text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    lines = [line.strip() for line in re.sub(r"</?[a-z]+>", "\n", user_text).splitlines() if line.strip()]
    cited = [line for line in lines if _CITATION.match(line)]
    sentences = _sentences("\n".join(line for line in lines if not _CITATION.match(line)))
    for line in cited:
        # Each sentence of a cited source keeps its citation, at its end: "Engineers work offline. [PRISM-12]".
        label = line[: line.index("]") + 1]
        sentences += [f"{sentence} {label}" for sentence in _sentences(line[len(label) :])]
    parts = [f"{OFFLINE_PREFIX} Drafted offline from the brief and the product's own sources; a model would write it."]
    for index, heading in enumerate(headings):
        parts.append(f"\n## {heading}\n")
        if "requirement" in heading.lower() and cited:
            parts += [f"- {line[:300]}" for line in cited[:8]]
            continue
        wanted = _words(heading)
        ranked = sorted(
            range(len(sentences)),
            key=lambda i: (-len(wanted & _words(sentences[i])), (i + index) % max(len(sentences), 1)),
        )
        chosen = [sentences[i] for i in ranked[:2]] if sentences else [f"To be written: {heading.lower()}."]
        parts += [f"- {sentence}" for sentence in chosen]
    return "\n".join(parts) + "\n"


def _schema_of(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> dict[str, Any] | None:
    response_format = optional_params.get("response_format") or {}
    if isinstance(response_format, dict) and "json_schema" in response_format:
        found = response_format["json_schema"].get("schema")
        if isinstance(found, dict):
            return found
    for message in messages:
        match = _SCHEMA_BLOCK.search(str(message.get("content") or ""))
        if match:
            loaded = json.loads(match.group(1))
            return loaded if isinstance(loaded, dict) else None
    return None


def offline_reply(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> str:
    """The offline answer to a chat request: JSON filling its schema when it has one, else an extract."""
    for message in messages:
        outline = _OUTLINE_BLOCK.search(str(message.get("content") or ""))
        if outline:
            headings = [line[3:].strip() for line in outline.group(1).splitlines() if line.startswith("## ")]
            return _outline_reply(headings, messages)
    sentences = _sentences(_request_text(messages))
    schema = _schema_of(messages, optional_params)
    if schema is not None:
        defs = schema.get("$defs", {})
        shaped = shaped_answer(messages, schema, OFFLINE_PREFIX)
        answer = shaped if shaped is not None else _fill(schema, "root", sentences, defs)
        return json.dumps(_fitted(answer, schema, defs))
    return f"{OFFLINE_PREFIX} " + " ".join(sentences[-3:])


def offline_chunks(content: str) -> list[str]:
    """How the offline model streams an answer: a line a chunk, each keeping its newline."""
    return content.splitlines(keepends=True) or [content]


def offline_handler() -> Any:
    """The CustomLLM LiteLLM calls for `prism-offline/...` models (built on first use: it subclasses litellm's)."""
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.llms.openai import ChatCompletionUsageBlock
    from litellm.types.utils import GenericStreamingChunk, ModelResponse

    class OfflineModel(CustomLLM):
        def _respond(self, model: str, messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> Any:
            content = offline_reply(messages, optional_params)
            prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
            return ModelResponse(
                model=f"{OFFLINE_PROVIDER}/{model}",
                choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                usage={
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content.split()),
                    "total_tokens": prompt_tokens + len(content.split()),
                },
            )

        def completion(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            return self._respond(model, messages, kwargs.get("optional_params") or {})

        async def acompletion(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            return self._respond(model, messages, kwargs.get("optional_params") or {})

        async def astreaming(  # type: ignore[override]
            self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
        ) -> AsyncIterator[GenericStreamingChunk]:
            content = offline_reply(messages, kwargs.get("optional_params") or {})
            chunks = offline_chunks(content)
            prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
            for index, chunk in enumerate(chunks):
                last = index == len(chunks) - 1
                yield GenericStreamingChunk(
                    text=chunk,
                    tool_use=None,
                    is_finished=last,
                    finish_reason="stop" if last else "",
                    usage=ChatCompletionUsageBlock(
                        prompt_tokens=prompt_tokens,
                        completion_tokens=len(content.split()),
                        total_tokens=prompt_tokens + len(content.split()),
                    )
                    if last
                    else None,
                    index=0,
                )

    return OfflineModel()
