"""Hugging Face import: MACs against the analytic transformer count, weights against the model's parameters."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

from hwpower.cli import app, common  # noqa: E402
from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import LayerOp, read_networks  # noqa: E402
from hwpower.networks.importers import ImportOptions, import_network  # noqa: E402
from hwpower.networks.importers.hf import build_model, hf_network, load_config  # noqa: E402


def layer_macs(L: int, d: int, f: int, *, d_kv: int | None = None, mlp: int = 2) -> int:
    """One transformer layer on L tokens: the Q and O projections (2 L d^2), K and V (2 L d d_kv;
    d_kv = d without grouped-query attention), scores Q K^T and context A V (2 L^2 d), and an MLP of
    ``mlp`` d x f matrices (2 for GELU MLPs, 3 for Llama's gated SiLU MLP)."""
    d_kv = d if d_kv is None else d_kv
    return 2 * L * d * d + 2 * L * d * d_kv + 2 * L * L * d + mlp * L * d * f


def parameters(name: str) -> int:
    """The model's own parameter count (tied tensors once), built on the meta device."""
    config, family = load_config(name)
    return sum(p.numel() for p in build_model(config, family).parameters())


def test_bert_base():
    """Encoder: 12 layers at 128 tokens, plus the pooler (d x d on the first token); embeddings are
    look-ups (no MACs)."""
    net = hf_network("bert-base")
    L, d, f = 128, 768, 3072
    assert net.counts.macs == 12 * layer_macs(L, d, f) + d * d
    assert net.counts.weights == parameters("bert-base") == 109_482_240
    assert net.input_shape == (1, 128) and net.source == "hf:bert-base"


def test_gpt2_small_prefill_with_tied_head():
    """Decoder: one forward pass over 128 tokens (prefill, no cache), 12 layers and the language
    model head (L x d x vocab MACs) whose weight is the token embedding's: counted once."""
    net = hf_network("gpt2")
    L, d, f, vocab = 128, 768, 3072, 50257
    assert net.counts.macs == 12 * layer_macs(L, d, f) + L * d * vocab
    head = net.ops[-1]
    assert (head.kind, head.attr("shared"), head.out_shape) == (LayerOp.LINEAR, True, (1, L, vocab))
    assert net.counts.weights == parameters("gpt2") == 124_439_808


def test_vit_b16():
    """Vision: the 16x16 patch embedding (196 patches x d x 3*16*16), 12 layers on 197 tokens (with
    the class token) and the 1000-way classifier on the class token; the same as torchvision's."""
    net = hf_network("vit-base-patch16-224")
    T, d, f = 197, 768, 3072
    assert net.counts.macs == 196 * d * 3 * 16 * 16 + 12 * layer_macs(T, d, f) + d * 1000
    assert net.counts.macs == 17_563_828_224  # torchvision's vit_b_16 (_ops 17.564 GMACs)
    assert net.counts.weights == parameters("vit-base-patch16-224") == 86_567_656
    assert net.input_shape == (1, 3, 224, 224)


def test_tinyllama_grouped_query_attention_and_layer_override():
    """Llama-style: 4 key-value heads of 32 (d_kv = d / 8), gated MLP, untied head; ?layers=2."""
    net = hf_network("tinyllama-1.1b?layers=2", ImportOptions(resolution=64, batch=2))
    L, d, f, vocab = 64, 2048, 5632, 32000
    assert net.counts.macs == 2 * (2 * layer_macs(L, d, f, d_kv=d // 8, mlp=3) + L * d * vocab)
    per_layer = 2 * d * d + 2 * d * (d // 8) + 3 * d * f + 2 * d  # projections, MLP, two RMS norms
    assert net.counts.weights == 2 * vocab * d + 2 * per_layer + d
    assert net.input_shape == (2, 64)


@pytest.mark.slow
def test_llama_2_7b_on_the_meta_device():
    net = hf_network("llama-2-7b")
    L, d, f, vocab = 128, 4096, 11008, 32000
    assert net.counts.macs == 32 * layer_macs(L, d, f, mlp=3) + L * d * vocab
    assert net.counts.weights == 6_738_415_616


def test_local_config_json(tmp_path):
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
              "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 256}
    path = tmp_path / "tiny-llama.json"
    path.write_text(json.dumps(config))
    net = import_network(f"hf:{path}", resolution=32)
    assert net.name == "tiny-llama" and net.ops[-1].out_shape == (1, 32, 100)  # the causal LM head
    assert net.counts.macs == 2 * layer_macs(32, 64, 128, d_kv=32, mlp=3) + 32 * 64 * 100


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="hf:bert-huge: unknown model; known: bert-base"):
        hf_network("bert-huge")
    with pytest.raises(InputError, match="BertConfig has no field 'depth'"):
        hf_network("bert-base?depth=2")
    with pytest.raises(InputError, match="--num-classes applies to image classifiers only"):
        hf_network("gpt2", ImportOptions(num_classes=10))
    with pytest.raises(InputError, match="sequence length 1024 exceeds the model's 512 positions"):
        hf_network("bert-base", ImportOptions(resolution=1024))
    (tmp_path / "t5.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(InputError, match="encoder-decoder models"):
        hf_network(str(tmp_path / "t5.json"))
    (tmp_path / "bad.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(InputError, match="bad.json: a config.json needs a 'model_type'"):
        hf_network(str(tmp_path / "bad.json"))


def test_cli_imports_hf(tmp_path, monkeypatch):
    monkeypatch.setattr(common.err_console, "width", 400)  # one line even with long temporary paths
    runner = CliRunner()
    out = tmp_path / "nets.json"
    result = runner.invoke(app, ["nets", "import", "hf:bert-base?layers=2", "--seq-len", "64", "--out", str(out)])
    assert result.exit_code == 0, result.output
    net = read_networks(out)[0]
    assert net.input_shape == (1, 64) and net.counts.macs == 2 * layer_macs(64, 768, 3072) + 768 * 768
    result = runner.invoke(app, ["nets", "import", "hf:bert-base", "--seq-len", "64", "--resolution", "64",
                                 "--out", str(out)])
    assert result.exit_code == 2 and "not both" in result.output
