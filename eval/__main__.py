"""`python -m eval` (`make eval`): measure similarRequirements' duplicate detection for every available embedder."""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from eval.embedders import candidates
from eval.evaluation import EmbedderEvaluation, evaluate
from eval.pairs import DEFAULT_PAIRS, load_pairs
from eval.report import as_json, as_text
from prism.ai.duplicates import duplicate_policy
from prism.config import Settings

DESCRIPTION = """\
Score labelled requirement pairs (eval/pairs.jsonl: duplicates phrased differently, near misses that share words,
unrelated pairs) through PRISM's vector index (embed, Qdrant local mode in a temporary directory, a tenant- and
product-filtered search) and the duplicate check's second stage (word coverage, prism.ai.duplicates), for the
offline embedder, all-MiniLM-L6-v2 and all-mpnet-base-v2 when installed and PRISM_EMBEDDING_MODEL when set. Reports
precision and recall at each embedder's documented policy on all pairs and on each half; each stage (cosine alone,
cosine and the word check) tuned on the development half and judged on the held-out test half; and the
precision/recall curves.
"""


async def _run(options: argparse.Namespace) -> int:
    settings = Settings()
    threshold = options.threshold if options.threshold is not None else settings.ai_duplicate_threshold
    coverage = options.coverage if options.coverage is not None else settings.ai_duplicate_coverage
    pairs = load_pairs(options.pairs)
    print(f"{len(pairs)} pairs from {options.pairs}")
    results: list[EmbedderEvaluation] = []
    for candidate in candidates(settings.embedding_model):
        if options.embedders and candidate.key not in options.embedders:
            continue
        if candidate.build is None:
            print(f"== {candidate.key}: skipped, {candidate.unavailable}")
            continue
        started = time.perf_counter()
        embedder = candidate.build()
        await embedder.embed(["a first text"])  # a model loads on its first embedding
        loaded = time.perf_counter() - started
        result = await evaluate(embedder, pairs, duplicate_policy(embedder.name, threshold, coverage))
        print(as_text(result, extra=f", built and first text embedded in {loaded:.2f} s"))
        results.append(result)
    if options.output:
        options.output.write_text(json.dumps([as_json(r) for r in results], indent=2) + "\n", encoding="utf-8")
        print(f"written to {options.output}")
    return 0 if results else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=DESCRIPTION)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="a JSON-lines file of labelled pairs")
    parser.add_argument(
        "--embedder",
        dest="embedders",
        action="append",
        choices=["offline", "minilm", "mpnet", "litellm"],
        help="measure only this embedder (repeatable; default: every one available)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="the cosine threshold to judge (default: PRISM_AI_DUPLICATE_THRESHOLD, else the embedder's documented)",
    )
    parser.add_argument(
        "--coverage",
        type=float,
        default=None,
        help="the word check's coverage to judge, 0 for none (default: PRISM_AI_DUPLICATE_COVERAGE, else documented)",
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the figures and scores as JSON here")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
