"""ONNX import: torchvision and transformer models exported to ONNX count exactly as imported from torch."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from hwpower.cli import app, common  # noqa: E402
from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import LayerOp, read_networks  # noqa: E402
from hwpower.networks.importers import ImportOptions, import_network  # noqa: E402
from hwpower.networks.importers.onnx import onnx_network, parse_input_shapes  # noqa: E402
from hwpower.networks.importers.torch_graph import graph_from_module  # noqa: E402


def _randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Distinct parameter values: exporters merge equal tensors (fresh batch norms are all ones)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return model.eval()


def _export(model: torch.nn.Module, inputs: tuple, path, **kwargs) -> str:
    """The TorchScript exporter without constant folding: batch norms stay separate nodes, so the
    file holds the model's own parameters (folding them into convolutions changes the count)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, str(path), dynamo=False, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.PRESERVE, **kwargs)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each torchvision model (randomized), its input and its ONNX file, exported once."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for name in ("resnet18", "squeezenet1_1", "shufflenet_v2_x0_5"):
        model = _randomized(torchvision.models.get_model(name, weights=None))
        x = torch.randn(1, 3, 224, 224)
        out[name] = model, x, _export(model, (x,), folder / f"{name}.onnx")
    return out


@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1", "shufflenet_v2_x0_5"])
def test_torchvision_models_count_as_from_torch(exported, name):
    model, x, path = exported[name]
    net = onnx_network(path)
    direct = graph_from_module(model, (x,))
    assert net.counts.macs == direct.counts.macs
    assert net.counts.weights == direct.counts.weights == sum(p.numel() for p in model.parameters())
    published = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"] * 1e9
    assert net.counts.macs == pytest.approx(published, rel=0.02)  # the published figure is rounded


def test_resnet18_structure(exported):
    net = onnx_network(exported["resnet18"][2])
    first = net.ops[0]
    assert first.kind is LayerOp.CONV
    assert (first.attr("kernel"), first.attr("stride"), first.attr("padding")) == ((7, 7), (2, 2), (3, 3))
    assert (first.attr("norm"), first.attr("act"), first.out_shape) == ("batch", "relu", (1, 64, 112, 112))
    kinds = [op.kind for op in net.ops]
    assert kinds.count(LayerOp.CONV) == 20 and kinds.count(LayerOp.LINEAR) == 1
    assert kinds.count(LayerOp.ELTWISE) == 16  # 8 residual adds and the relu after each
    assert net.ops[-1].out_shape == (1, 1000) and net.source.startswith("onnx:")


class _Encoder(torch.nn.Module):
    """Token ids in, hidden states and pooled output out (the exporter passes inputs by position)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids):
        out = self.model(input_ids=ids)
        return out.last_hidden_state, out.pooler_output


@pytest.mark.parametrize("opset", [14, 18])  # before opset 17 a layer norm is exported as 7 nodes
def test_small_bert_counts_as_from_torch(tmp_path, opset):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=256, vocab_size=1000, max_position_embeddings=64)
    torch.manual_seed(0)
    model = _randomized(_Encoder(transformers.BertModel(config)))
    ids = torch.randint(0, 1000, (1, 16))
    path = _export(model, (ids,), tmp_path / "bert.onnx", input_names=["input_ids"], opset_version=opset)
    net = onnx_network(path)
    direct = graph_from_module(model, (ids,))
    assert net.counts.macs == direct.counts.macs
    # per layer 4 L d^2 (QKVO) + 2 L^2 d (scores, context) + 2 L d d_ff (MLP), and the pooler
    L, d, f = 16, 64, 256
    assert net.counts.macs == 2 * (4 * L * d * d + 2 * L * L * d + 2 * L * d * f) + d * d
    assert net.counts.weights == sum(p.numel() for p in model.parameters())
    norms = [op for op in net.ops if op.kind is LayerOp.NORM]
    assert [op.attr("fn") for op in norms] == ["layer"] * 5 and all(op.weights == 2 * d for op in norms)
    assert not any(op.kind is LayerOp.POOL for op in net.ops)


@pytest.mark.slow
def test_gpt2_from_the_dynamo_exporter(tmp_path):
    """torch.export-based export, optimized as by default: the file's weights are what the exporter
    kept (it folds the used position-embedding rows into a constant), each initializer counted once."""
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=500, n_positions=64, use_cache=False)
    torch.manual_seed(0)
    model = _randomized(_Logits(transformers.GPT2LMHeadModel(config)))
    ids = torch.randint(0, 500, (1, 16))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids,), str(tmp_path / "gpt2.onnx"), dynamo=True)
    net = onnx_network(tmp_path / "gpt2.onnx")
    assert net.counts.macs == graph_from_module(model, (ids,)).counts.macs == 2 * (
        4 * 16 * 64 * 64 + 2 * 16 * 16 * 64 + 2 * 16 * 64 * 256) + 16 * 64 * 500
    file = onnx.load(tmp_path / "gpt2.onnx", load_external_data=False)
    assert net.counts.weights == sum(int(np.prod(i.dims)) for i in file.graph.initializer
                                     if i.data_type == TensorProto.FLOAT and np.prod(i.dims) > 1)


class _Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).logits


def _tiny_model(nodes, inputs, initializers, outputs) -> onnx.ModelProto:
    tensors = [numpy_helper.from_array(v, k) for k, v in initializers.items()]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_tied_embedding_and_head_count_once(tmp_path):
    """A language model head reading the embedding table (transposed) shares its weights."""
    table = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    model = _tiny_model(
        [helper.make_node("Gather", ["table", "ids"], ["emb"]),
         helper.make_node("Transpose", ["table"], ["table_t"], perm=[1, 0]),
         helper.make_node("MatMul", ["emb", "table_t"], ["logits"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 5])], {"table": table},
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)])
    onnx.save(model, tmp_path / "tied.onnx")
    net = onnx_network(tmp_path / "tied.onnx")
    emb, head = net.ops
    assert (emb.kind, head.kind, head.attr("shared")) == (LayerOp.EMBEDDING, LayerOp.LINEAR, True)
    assert net.counts.weights == 400 and net.counts.macs == 5 * 8 * 50


def _dynamic_matmul(tmp_path) -> str:
    w = np.ones((8, 4), np.float32) + np.arange(32, dtype=np.float32).reshape(8, 4)
    model = _tiny_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])], {"w": w},
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(model, tmp_path / "dyn.onnx")
    return str(tmp_path / "dyn.onnx")


def test_symbolic_dimension_needs_a_shape(tmp_path):
    path = _dynamic_matmul(tmp_path)
    with pytest.raises(InputError, match=r"input 'x': dimension 0 is symbolic \('batch'\).*--input-shape"):
        onnx_network(path)
    net = onnx_network(path, parse_input_shapes("x=3x8"))
    assert net.inputs == (("x", (3, 8)),) and net.counts.macs == 3 * 8 * 4 and net.counts.weights == 32
    net = import_network(f"onnx:{path}", ImportOptions(input_shape=(5, 8)))
    assert net.counts.macs == 5 * 8 * 4
    with pytest.raises(InputError, match="fixes its input size, batch and classes"):
        import_network(f"onnx:{path}", ImportOptions(batch=2))
    with pytest.raises(InputError, match="--input-shape gives 3 dimensions"):
        onnx_network(path, {"x": (1, 2, 8)})
    with pytest.raises(InputError, match="expected NAME=DxDx"):
        parse_input_shapes("x=3xa")


def test_unsupported_operator_names_file_and_node(tmp_path):
    model = _tiny_model([helper.make_node("Det", ["x"], ["y"], name="det0")],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])], {},
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(model, tmp_path / "det.onnx")
    with pytest.raises(InputError, match=r"det\.onnx: node 'det0' \(Det\): unsupported ONNX operator 'Det'"):
        onnx_network(tmp_path / "det.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="bad.onnx: cannot read as ONNX"):
        onnx_network(tmp_path / "bad.onnx")
    with pytest.raises(InputError, match="no such ONNX file"):
        import_network(f"onnx:{tmp_path / 'missing.onnx'}")


def test_cli_import(tmp_path, monkeypatch):
    monkeypatch.setattr(common.err_console, "width", 400)  # one line even with long temporary paths
    path, out = _dynamic_matmul(tmp_path), tmp_path / "nets.json"
    result = CliRunner().invoke(app, ["nets", "import", f"onnx:{path}", "--input-shape", "4,8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    net = read_networks(out)[0]
    assert net.source == f"onnx:{path}" and net.counts.macs == 4 * 8 * 4
    result = CliRunner().invoke(app, ["nets", "import", f"onnx:{path}", "--out", str(tmp_path / "other.json")])
    assert result.exit_code == 2 and "dimension 0 is symbolic ('batch')" in result.output
