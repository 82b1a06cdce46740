"""``hf:NAME[?KEY=VALUE&...]`` or ``hf:PATH.json[?...]``: a Hugging Face transformers model, built
from its config with random initialization (nothing is downloaded) and imported through
:func:`~hwpower.networks.importers.torch_graph.graph_from_module` (docs/importers.md).

``NAME`` is one of :data:`KNOWN_CONFIGS` (their public config values written out, so no network
access is needed), or a hub id of :data:`HUB_IDS`; ``PATH.json`` is a local ``config.json`` (read
with ``AutoConfig.for_model``). The query overrides config fields: ``hf:llama-2-7b?layers=2`` (or
``num_hidden_layers=2``), ``hf:bert-base?hidden_act=gelu_new``.

Families, by the model class the config names (``architectures``) or the table says:

- encoder (BERT): the base model (``AutoModel``) with its pooler, on ``input_ids`` of
  ``(batch, seq_len)``, ``seq_len`` 128 unless ``resolution`` gives it;
- decoder (GPT-2, Llama): the causal language model with its head (``AutoModelForCausalLM``), one
  forward pass over ``seq_len`` tokens (a prefill), no key-value cache;
- vision (ViT): the image classifier (``AutoModelForImageClassification``, ``num_classes`` labels) on
  ``(batch, 3, size, size)`` pixels, ``size`` the config's ``image_size`` unless ``resolution``
  changes it (which changes the position embedding too).

Models are built on the "meta" device: shapes only, no memory for weights, so Llama-2-7B imports in
seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import torch
import transformers
from transformers.models.auto import modeling_auto

from ...errors import InputError
from ..graph import GraphNetwork
from . import ImportOptions
from .torch_graph import graph_from_module

ENCODER, DECODER, VISION = "encoder", "decoder", "vision"
AUTO_CLASSES = {ENCODER: "AutoModel", DECODER: "AutoModelForCausalLM", VISION: "AutoModelForImageClassification"}
DEFAULT_SEQ_LEN = 128

_LLAMA = dict(vocab_size=32000, rms_norm_eps=1e-5, hidden_act="silu", bos_token_id=1, eos_token_id=2)
# name -> (model_type, family, config values that differ from the config class's defaults)
KNOWN_CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bert-base": ("bert", ENCODER, {}),
    "bert-large": ("bert", ENCODER, dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                         intermediate_size=4096)),
    "distilbert-base": ("distilbert", ENCODER, {}),
    "gpt2": ("gpt2", DECODER, {}),
    "gpt2-medium": ("gpt2", DECODER, dict(n_embd=1024, n_layer=24, n_head=16)),
    "gpt2-large": ("gpt2", DECODER, dict(n_embd=1280, n_layer=36, n_head=20)),
    "tinyllama-1.1b": ("llama", DECODER, dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                                              num_attention_heads=32, num_key_value_heads=4,
                                              max_position_embeddings=2048, **_LLAMA)),
    "llama-2-7b": ("llama", DECODER, dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                          num_attention_heads=32, num_key_value_heads=32,
                                          max_position_embeddings=4096, **_LLAMA)),
    "vit-base-patch16-224": ("vit", VISION, dict(num_labels=1000)),  # ImageNet-1k
    "vit-large-patch16-224": ("vit", VISION, dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                                  intermediate_size=4096, num_labels=1000)),
}
HUB_IDS: dict[str, str] = {
    "bert-base-uncased": "bert-base", "google-bert/bert-base-uncased": "bert-base",
    "bert-large-uncased": "bert-large", "google-bert/bert-large-uncased": "bert-large",
    "distilbert-base-uncased": "distilbert-base", "distilbert/distilbert-base-uncased": "distilbert-base",
    "openai-community/gpt2": "gpt2",
    "openai-community/gpt2-medium": "gpt2-medium", "openai-community/gpt2-large": "gpt2-large",
    "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T": "tinyllama-1.1b",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": "tinyllama-1.1b", "meta-llama/Llama-2-7b-hf": "llama-2-7b",
    "google/vit-base-patch16-224": "vit-base-patch16-224", "google/vit-large-patch16-224": "vit-large-patch16-224",
}
# Short names for config fields the query may set, e.g. ``?layers=2``.
FIELD_ALIASES = {"layers": "num_hidden_layers"}


def _value(text: str) -> Any:
    """A query value: a JSON number, boolean or null, else the text itself (``hidden_act=gelu``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _family_of(config: transformers.PretrainedConfig) -> str:
    """From the model classes a config.json names; the base model (encoder family) otherwise."""
    archs = set(getattr(config, "architectures", None) or ())
    if archs & set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        return DECODER
    if archs & set(modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES.values()):
        return VISION
    return ENCODER


def load_config(name: str) -> tuple[transformers.PretrainedConfig, str]:
    """The config (and family) of a known name, a hub id of one, or a local config.json."""
    where = f"hf:{name}"
    if name.endswith(".json"):
        try:
            data = json.loads(Path(name).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the config: {exc}", file=name) from None
        if not isinstance(data, dict) or "model_type" not in data:
            raise InputError("a config.json needs a 'model_type' field (e.g. \"bert\")", file=name)
        try:
            config = transformers.AutoConfig.for_model(**data)
        except (ValueError, KeyError) as exc:
            raise InputError(f"not a transformers config: {exc}", file=name) from None
        return config, _family_of(config)
    key = HUB_IDS.get(name, name)
    if key not in KNOWN_CONFIGS:
        raise InputError(f"unknown model; known: {', '.join(sorted(KNOWN_CONFIGS))}, or a local config.json "
                         "(hub configs cannot be downloaded here)", where=where)
    model_type, family, values = KNOWN_CONFIGS[key]
    return transformers.AutoConfig.for_model(model_type, **values), family


def _override(config: transformers.PretrainedConfig, query: str, where: str) -> None:
    for key, text in parse_qsl(query, keep_blank_values=True):
        field = FIELD_ALIASES.get(key, key)
        if not hasattr(config, field):
            raise InputError(f"the {type(config).__name__} has no field {field!r}", where=where)
        setattr(config, field, _value(text))


def _example_input(config: transformers.PretrainedConfig, family: str, options: ImportOptions,
                   where: str) -> torch.Tensor:
    """Token ids or pixels on the "meta" device, of the shape the options ask for."""
    if family == VISION:
        size = options.resolution or config.image_size
        config.image_size = size
        shape = tuple(options.input_shape or (options.batch, config.num_channels, size, size))
        if len(shape) != 4 or shape[1] != config.num_channels or shape[2] != shape[3] != size:
            raise InputError(f"a vision model reads (batch, {config.num_channels}, {size}, {size}) pixels, "
                             f"not {list(shape)}", where=where)
        return torch.zeros(shape, device="meta")
    shape = tuple(options.input_shape or (options.batch, options.resolution or DEFAULT_SEQ_LEN))
    limit = getattr(config, "max_position_embeddings", None)
    if len(shape) != 2:
        raise InputError(f"a text model reads (batch, seq_len) token ids, not {list(shape)}", where=where)
    if limit is not None and shape[1] > limit:
        raise InputError(f"sequence length {shape[1]} exceeds the model's {limit} positions", where=where)
    return torch.zeros(shape, dtype=torch.long, device="meta")


def build_model(config: transformers.PretrainedConfig, family: str) -> torch.nn.Module:
    """The model with random initialization on the "meta" device (shapes only, no weight memory)."""
    config.use_cache = False  # one forward pass, no key-value cache to return
    auto = getattr(transformers, AUTO_CLASSES[family])
    with torch.device("meta"):
        return auto.from_config(config).eval()


def hf_network(name: str, options: ImportOptions | None = None) -> GraphNetwork:
    """The operator graph of ``name`` (``NAME[?KEY=VALUE&...]`` as after ``hf:``)."""
    options = options or ImportOptions()
    target, _, query = name.partition("?")
    where = f"hf:{name}"
    config, family = load_config(target)
    if getattr(config, "is_encoder_decoder", False):
        raise InputError("encoder-decoder models (T5, BART) need decoder inputs and are not supported", where=where)
    _override(config, query, where)
    if options.num_classes is not None:
        if family != VISION:
            raise InputError("--num-classes applies to image classifiers only", where=where)
        config.num_labels = options.num_classes
    example = _example_input(config, family, options, where)
    model = build_model(config, family)
    return graph_from_module(model, (example,), name=Path(target).stem if target.endswith(".json") else target,
                             source=where)


def import_hf(name: str, options: ImportOptions) -> GraphNetwork:
    """Registry entry for ``hf:NAME``."""
    return hf_network(name, options)
