"""Target modules resolved from the model's actual Linear layers, and the trainable-parameter count.

Phi-3/Phi-4 fuse the attention projections into `qkv_proj` and the MLP's gate and up projections
into `gate_up_proj`: the usual list `q_proj, k_proj, v_proj, gate_proj, up_proj` matches nothing
there, and PEFT would silently train only `o_proj`/`down_proj`. So a named list is checked
against the model: a split name whose fused counterpart exists is mapped to it (with a note), and
a name the model lacks is an error listing the names it has. The same rules run in
`training/sft.py` on the loaded model; this module applies them to the layers read from the
model files (models.py), so the app shows them before launch without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from phi4studio.core.training.models import LinearLayer

FUSED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
         "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}
PRESET_GROUPS = {"attention": {"attention"}, "attention-mlp": {"attention", "mlp"},
                 "all-linear": {"attention", "mlp", "other"}}


_KNOWN_ORDER = ("q_proj", "k_proj", "v_proj", "qkv_proj", "c_attn", "o_proj", "c_proj",
                "gate_proj", "up_proj", "gate_up_proj", "c_fc", "down_proj")
_GROUP_ORDER = {"attention": 0, "mlp": 1, "other": 2}


def _order(name: str, layers: Sequence[LinearLayer]) -> tuple[int, int, str]:
    """Model order for display: attention before MLP, then the usual projection order."""
    leaf = name.rsplit(".", 1)[-1]
    group = next((la.group for la in layers if _matches(name, la)), "other")
    known = _KNOWN_ORDER.index(leaf) if leaf in _KNOWN_ORDER else len(_KNOWN_ORDER)
    return _GROUP_ORDER.get(group, 2), known, name


class TargetModuleError(ValueError):
    """A named target module the model does not have."""


@dataclass
class ResolvedTargets:
    names: list[str]  # what PEFT gets as target_modules (leaf names, or parent.leaf)
    layers: list[LinearLayer] = field(default_factory=list)  # the layers they match
    notes: list[str] = field(default_factory=list)
    available: list[str] = field(default_factory=list)  # every Linear leaf name of the model

    def trainable_params(self, r: int, *, dora: bool = False) -> int:
        """LoRA adds r x (in + out) per adapted layer; DoRA adds a magnitude vector (out)."""
        n = sum(r * (la.in_features + la.out_features) for la in self.layers)
        if dora:
            n += sum(la.out_features for la in self.layers)
        return n

    def summary(self) -> str:
        return f"{', '.join(self.names)} ({len(self.layers)} layers)"


def _matches(target: str, layer: LinearLayer) -> bool:
    return layer.name == target or layer.name.endswith("." + target)


def resolve_targets(spec: str | Sequence[str], layers: Sequence[LinearLayer]) -> ResolvedTargets:
    """PEFT target names for `spec` (attention | attention-mlp | all-linear | names)."""
    available = list(dict.fromkeys(la.leaf for la in layers))
    if not layers:
        return ResolvedTargets([], [], ["the model's layers are not known yet"], [])
    notes: list[str] = []
    if isinstance(spec, str) and spec in PRESET_GROUPS:
        want = PRESET_GROUPS[spec]
        chosen = [la for la in layers if la.group in want]
        if not chosen:
            notes.append(f"no {spec} layers recognised by name: all Linear layers are targeted")
            chosen = list(layers)
            want = PRESET_GROUPS["all-linear"]
        names: list[str] = []
        for leaf in dict.fromkeys(la.leaf for la in chosen):
            groups = {la.group for la in layers if la.leaf == leaf}
            if groups - want:  # shared by an unwanted group (GPT-2 c_proj): narrow by parent
                names += sorted({f"{la.parent}.{leaf}" for la in chosen if la.leaf == leaf})
            else:
                names.append(leaf)
    else:
        wanted = [spec] if isinstance(spec, str) else list(spec)
        names = []
        for n in wanted:
            if any(_matches(n, la) for la in layers):
                names.append(n)
            elif FUSED.get(n) in available:
                names.append(FUSED[n])
                notes.append(f"{n} is fused into {FUSED[n]} in this model: {FUSED[n]} is "
                             "targeted")
            else:
                raise TargetModuleError(
                    f"target module {n!r} is not in this model; its Linear layers are "
                    f"{', '.join(sorted(available))}")
        names = list(dict.fromkeys(names))
    names = sorted(names, key=lambda n: _order(n, layers))
    matched = [la for la in layers if any(_matches(t, la) for t in names)]
    return ResolvedTargets(names, matched, notes, available)
