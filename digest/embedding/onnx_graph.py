"""all-MiniLM-L6-v2 as an ONNX graph, built from the safetensors weights with onnx.helper (no PyTorch).

The graph uses onnxruntime's fused CPU kernels (com.microsoft domain): EmbedLayerNormalization (word +
position + token-type embeddings and LayerNorm, and the per-row lengths), MultiHeadAttention (softmax over
the real tokens only), BiasGelu (exact erf GELU) and SkipLayerNormalization (residual + bias + LayerNorm).
Inputs: input_ids and attention_mask, int32 [batch, length], right-padded. Output: "embedding", float32
[batch, 384], the mean over real tokens of the last layer, unit length.

Int8 products (DynamicQuantizeMatMul, weights per column) were measured and not taken: 2x the speed, but a
cosine of 0.991 against the float32 pass on the recorded papers, where 0.999 is required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

Floats = NDArray[np.float32]
MS = "com.microsoft"
DIM = 384
HEADS = 12
LAYERS = 6
EPS = 1e-12


class _Graph:
    """Nodes and initialisers being collected."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []

    def const(self, name: str, value: NDArray[np.generic]) -> str:
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def dense(self, x: str, weight: Floats, name: str) -> str:
        """x @ weight.T; the bias is added by the op that follows (attention, BiasGelu, SkipLayerNorm)."""
        return self.node("MatMul", [x, self.const(name + ".w", weight.T.copy())], name + ".mm")


def build(w: dict[str, Floats]) -> onnx.ModelProto:
    """The model's graph over the weights `w` (as read from model.safetensors)."""
    g = _Graph()
    x, lengths = _embeddings(g, w)
    for layer in range(LAYERS):
        x = _layer(g, w, x, lengths, f"encoder.layer.{layer}.")
    _pool(g, x)
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT32, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        g.weights,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def _embeddings(g: _Graph, w: dict[str, Floats]) -> tuple[str, str]:
    at = "embeddings."
    names = ["word_embeddings", "position_embeddings", "token_type_embeddings"]
    tables = [g.const(at + n, w[at + n + ".weight"]) for n in names]
    g.node("Mul", ["input_ids", g.const("zero", np.zeros((), dtype=np.int32))], "segment_ids")
    norm = [g.const(at + "ln.w", w[at + "LayerNorm.weight"]), g.const(at + "ln.b", w[at + "LayerNorm.bias"])]
    inputs = ["input_ids", "segment_ids", *tables, *norm, "attention_mask"]
    g.nodes.append(
        helper.make_node(
            "EmbedLayerNormalization", inputs, ["x0", "lengths"], name="embed", domain=MS, epsilon=EPS
        )
    )
    return "x0", "lengths"


def _layer(g: _Graph, w: dict[str, Floats], x: str, lengths: str, at: str) -> str:
    attn = at + "attention.self."
    qkv_w = np.concatenate([w[attn + p + ".weight"] for p in ("query", "key", "value")])
    qkv_b = np.concatenate([w[attn + p + ".bias"] for p in ("query", "key", "value")])
    qkv = g.dense(x, qkv_w, at + "qkv")
    parts = [at + "q", at + "k", at + "v"]
    g.nodes.append(helper.make_node("Split", [qkv, g.const(at + "split", np.full(3, DIM))], parts, axis=-1))
    inputs = [*parts, g.const(at + "qkv.b", qkv_b), lengths]
    context = g.node("MultiHeadAttention", inputs, at + "context", MS, num_heads=HEADS)
    attended = g.dense(context, w[at + "attention.output.dense.weight"], at + "o")
    x = _residual(g, w, x, attended, at + "attention.output.")
    hidden = g.dense(x, w[at + "intermediate.dense.weight"], at + "ffn1")
    hidden = g.node("BiasGelu", [hidden, g.const(at + "ffn1.b", w[at + "intermediate.dense.bias"])],
                    at + "gelu", MS)  # fmt: skip
    out = g.dense(hidden, w[at + "output.dense.weight"], at + "ffn2")
    return _residual(g, w, x, out, at + "output.")


def _residual(g: _Graph, w: dict[str, Floats], x: str, y: str, at: str) -> str:
    """LayerNorm(x + y + dense bias), the BERT residual."""
    inputs = [y, x, g.const(at + "ln.w", w[at + "LayerNorm.weight"])]
    inputs += [g.const(at + "ln.b", w[at + "LayerNorm.bias"]), g.const(at + "bias", w[at + "dense.bias"])]
    return g.node("SkipLayerNormalization", inputs, at + "ln", MS, epsilon=EPS)


def _pool(g: _Graph, x: str) -> None:
    """Mean over the real tokens (attention_mask), then unit length."""
    mask = g.node("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)
    mask = g.node("Unsqueeze", [mask, g.const("axis2", np.array([2]))], "mask3")
    total = g.node("ReduceSum", [g.node("Mul", [x, mask], "masked"), g.const("axis1", np.array([1]))],
                   "total", keepdims=0)  # fmt: skip
    count = g.node("ReduceSum", [mask, g.const("axis1b", np.array([1]))], "count", keepdims=0)
    mean = g.node("Div", [total, count], "mean")
    g.node("LpNormalization", [mean], "embedding", axis=-1, p=2)


def session(w: dict[str, Floats]) -> Callable[[NDArray[np.int32], NDArray[np.int32]], Floats]:
    """The graph loaded into onnxruntime, one thread (the service embeds alongside other work)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    runner = ort.InferenceSession(build(w).SerializeToString(), options, providers=["CPUExecutionProvider"])

    def run(ids: NDArray[np.int32], mask: NDArray[np.int32]) -> Floats:
        (out,) = runner.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
        result: Floats = np.asarray(out, dtype=np.float32)
        return result

    return run
