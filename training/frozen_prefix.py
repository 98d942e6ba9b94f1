"""Reuse the frozen lower layers' output across epochs and evaluations (sft.py, CPU runs).

With LoRA on the upper layers only (the CPU recipe trains the upper half), the embeddings and
every layer below the first trained one are frozen and see the same tokens each time an example
comes back: in the second epoch, and in every evaluation of the validation split. Their output
is then the same tensor. `FrozenPrefixCache` keeps it, keyed by the batch's token ids (and its
attention mask and positions), and on a repeat feeds it to the first trained layer while the
frozen layers pass their input through untouched. The loss and gradients are those of the full
forward: nothing upstream of the first trained layer takes part in the backward pass.

It attaches only where that holds: a decoder that feeds its input embeddings to the first layer
unchanged (Llama, Phi-3/Phi-4, Mistral, Qwen2/3), every trainable parameter in a decoder layer
at or above the first trained one (or the final norm / LM head), no dropout configured in the
model, no gradient checkpointing, one process. The cache stays in memory within a budget (a
share of the available memory); past it, batches are computed in full as before.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

LAYER_RE = re.compile(r"\.layers\.(\d+)\.")
ABOVE_THE_LAYERS = ("lm_head", ".norm.", "final_layernorm", "model.norm")
# model types whose decoder feeds `inputs_embeds` to the first layer unchanged (no scaling, no
# dropout besides what `_dropout_in` sees): the studio's bases
PASS_THROUGH_TYPES = ("llama", "phi3", "mistral", "qwen2", "qwen3")
BUDGET_SHARE = 0.3  # of the available memory when training starts
BUDGET_CAP = 8 * 2**30


def available_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError, RuntimeError):  # psutil is a dependency; a platform may refuse
        return None


def first_trained_layer(model: Any) -> tuple[int | None, str]:
    """The lowest decoder layer holding a trainable parameter, or None and why not."""
    lowest: int | None = None
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        m = LAYER_RE.search(name)
        if m is None:
            if any(h in name for h in ABOVE_THE_LAYERS):
                continue
            return None, f"a parameter outside the decoder layers is trained ({name})"
        lowest = int(m.group(1)) if lowest is None else min(lowest, int(m.group(1)))
    if lowest is None:
        return None, "no trainable parameter in the decoder layers"
    if lowest == 0:
        return None, "the first decoder layer is trained"
    return lowest, ""


def _dropout_in(config: Any) -> str | None:
    for key, value in sorted(getattr(config, "__dict__", {}).items()):
        if (key.endswith("dropout") or key.endswith("pdrop")) and isinstance(value, (int, float)) \
                and value > 0:
            return key
    return None


def _decoder(model: Any) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, "model", None)
    if decoder is None or not hasattr(decoder, "layers") or not hasattr(decoder, "embed_tokens"):
        return None
    return decoder


class FrozenPrefixCache:
    """See the module docstring. `attach` returns one, or None and the reason."""

    def __init__(self, decoder: Any, first: int, budget: int) -> None:
        self.decoder = decoder
        self.first = first
        self.budget = budget
        self.store: dict[bytes, Any] = {}
        self.bytes = 0
        self.hits = self.misses = self.over_budget = 0
        self._pending: bytes | None = None
        self._skipping = False
        self._tuple_out = False
        self._handles: list[Any] = []
        self._originals: list[tuple[Any, Any]] = []

    # --- attaching ----------------------------------------------------------------------------
    @classmethod
    def attach(cls, model: Any, *, gradient_checkpointing: bool, world_size: int = 1,
               budget: int | None = None) -> tuple[FrozenPrefixCache | None, str]:
        if gradient_checkpointing:
            return None, "gradient checkpointing is on"
        if world_size > 1:
            return None, "more than one training process"
        decoder = _decoder(model)
        if decoder is None:
            return None, "the model has no decoder layers to find"
        model_type = getattr(getattr(decoder, "config", None), "model_type", None)
        if model_type not in PASS_THROUGH_TYPES:
            return None, f"not known to be safe for this model type ({model_type})"
        first, why = first_trained_layer(model)
        if first is None:
            return None, why
        drop = _dropout_in(getattr(decoder, "config", None))
        if drop is not None:
            return None, f"the model applies dropout ({drop})"
        if budget is None:
            avail = available_bytes()
            budget = min(BUDGET_CAP, int(avail * BUDGET_SHARE)) if avail else 2**30
        cache = cls(decoder, first, budget)
        cache._install()
        return cache, ""

    def _install(self) -> None:
        layers = self.decoder.layers
        self._handles.append(self.decoder.register_forward_pre_hook(self._pre, with_kwargs=True))
        self._handles.append(self.decoder.register_forward_hook(self._post, with_kwargs=True))
        self._handles.append(layers[self.first - 1].register_forward_hook(self._record))
        for layer in list(layers)[: self.first]:
            original = layer.forward
            self._originals.append((layer, original))
            layer.forward = self._passthrough(original)

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        for layer, _ in self._originals:
            del layer.forward  # back to the class's own forward
        self._handles.clear()
        self._originals.clear()
        self.store.clear()

    # --- the hooks ----------------------------------------------------------------------------
    @staticmethod
    def key(kwargs: dict[str, Any]) -> bytes | None:
        ids = kwargs.get("input_ids")
        if ids is None or kwargs.get("inputs_embeds") is not None:
            return None
        h = hashlib.blake2b(digest_size=20)
        for name in ("input_ids", "attention_mask", "position_ids"):
            t = kwargs.get(name)
            if t is None:
                h.update(b"-")
                continue
            h.update(repr(tuple(t.shape)).encode())
            h.update(t.detach().to("cpu").contiguous().numpy().tobytes())
        return h.digest()

    def _pre(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._pending, self._skipping = None, False
        if args:  # called positionally: not the way the causal LM calls it; leave it alone
            return None
        k = self.key(kwargs)
        if k is None:
            return None
        hidden = self.store.get(k)
        if hidden is None:
            self.misses += 1
            self._pending = k
            return None
        self.hits += 1
        self._skipping = True
        return args, {**kwargs, "input_ids": None, "inputs_embeds": hidden}

    def _post(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        self._pending, self._skipping = None, False

    def _record(self, module: Any, args: Any, output: Any) -> None:
        if self._pending is None or self._skipping:
            return
        self._tuple_out = isinstance(output, tuple)
        hidden = output[0] if self._tuple_out else output
        size = hidden.element_size() * hidden.nelement()
        if self.bytes + size > self.budget:
            self.over_budget += 1
        else:
            self.store[self._pending] = hidden.detach().clone()
            self.bytes += size
        self._pending = None

    def _passthrough(self, original: Any) -> Any:
        def forward(hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            if self._skipping:
                return (hidden_states,) if self._tuple_out else hidden_states
            return original(hidden_states, *args, **kwargs)

        return forward

    def stats(self) -> dict[str, Any]:
        return {"frozen_layers": self.first, "hits": self.hits, "misses": self.misses,
                "cached": len(self.store), "cached_mb": round(self.bytes / 2**20, 1),
                "over_budget": self.over_budget, "budget_mb": round(self.budget / 2**20, 1)}
