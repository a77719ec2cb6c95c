"""Tensor names: wrapper prefixes, the legacy Qwen-VL layout, and MoE expert layouts.

`normalize_name` undoes what training wrappers add and maps the legacy layout to the one
Transformers 5 builds; `expert_groups` finds per-expert tensors that must be fused.

Example:
    >>> normalize_name("_orig_mod.model.layers.0.mlp.gate.weight")
    ('model.language_model.layers.0.mlp.gate.weight', ['prefix-orig-mod', 'legacy-layout'])
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

# (finding code, literal prefix, also found inside a name after a ".", who adds it). Stripped repeatedly.
PREFIXES = [
    ("prefix-orig-mod", "_orig_mod.", False, "torch.compile (the compiled module's _orig_mod)"),
    ("prefix-module", "module.", False, "DistributedDataParallel / DataParallel"),
    ("prefix-peft", "base_model.model.", False, "a PEFT-wrapped model saved whole"),
    ("prefix-fsdp", "_fsdp_wrapped_module.", True, "FSDP (wrapped modules)"),
    ("prefix-fsdp", "_checkpoint_wrapped_module.", True, "activation checkpointing wrapper"),
]
_PREFIX_RX = [
    (code, re.compile((r"(^|\.)" if inner else "^") + re.escape(literal)))
    for code, literal, inner, _ in PREFIXES
]
PREFIX_INFO = {
    code: (literal, who) for code, literal, _, who in reversed(PREFIXES)
}  # code -> its first (prefix, who)
LEGACY = [
    (re.compile(r"^model\.(layers|embed_tokens|norm)\."), r"model.language_model.\1."),
    (re.compile(r"^visual\."), "model.visual."),
]
PER_EXPERT = re.compile(
    r"^(?P<group>.*\.mlp\.experts)\.(?P<idx>\d+)\.(?P<proj>gate_proj|up_proj|down_proj)\.weight$"
)
FUSED = re.compile(r"^(?P<group>.*\.mlp\.experts)\.(?P<proj>gate_up_proj|down_proj)$")
LORA = re.compile(r"\.lora_(A|B|embedding_A|embedding_B)\.|\.lora_magnitude_vector")


def normalize_name(name: str) -> tuple[str, list[str]]:
    """Strip wrapper prefixes and map the legacy layout; returns (new name, codes of what was applied)."""
    applied: list[str] = []
    changed = True
    while changed:
        changed = False
        for code, rx in _PREFIX_RX:
            new = rx.sub(lambda m: m.group(1) if m.lastindex else "", name)
            if new != name:
                name, changed = new, True
                if code not in applied:
                    applied.append(code)
    for rx, repl in LEGACY:
        new = rx.sub(repl, name)
        if new != name:
            name = new
            applied.append("legacy-layout")
    return name, applied


def expert_groups(names: list[str]) -> dict[str, dict[str, dict[int, str]]]:
    """Per-expert tensors grouped: {"…mlp.experts": {"gate_proj": {0: source name, …}, …}}."""
    groups: dict[str, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    for name in names:
        m = PER_EXPERT.match(name)
        if m:
            groups[m["group"]][m["proj"]][int(m["idx"])] = name
    return {g: dict(p) for g, p in groups.items()}


def fused_names(group: str) -> tuple[str, str]:
    """The fused names Transformers 5 expects for one expert group."""
    return f"{group}.gate_up_proj", f"{group}.down_proj"


def is_lora(name: str) -> bool:
    """True for LoRA adapter tensors (an adapter that was never merged)."""
    return bool(LORA.search(name))


def analyse_names(inv: Any, report: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Normalize names, find expert layouts (doctor.Inventory, report.Report); returns the tensors as the
    model would see them after repair."""
    names = list(inv.tensors) + [n for n in inv.pickled if n not in inv.tensors]
    lora = [n for n in names if is_lora(n)]
    if lora:
        report.add(
            "adapter-not-merged",
            "error",
            f"{len(lora)} LoRA tensors, e.g. {lora[0]}",
            "merge the adapter first: PeftModel.from_pretrained(base, …).merge_and_unload()",
        )
    applied: Counter[str] = Counter()
    virtual: dict[str, tuple[str, tuple[int, ...]]] = {}
    clash = []
    for n in names:
        new, codes = normalize_name(n)
        applied.update(set(codes))
        inv.renames[n] = new
        if new in virtual:
            clash.append(new)
        virtual[new] = inv.spec(n)
    for code, count in applied.items():
        if code == "legacy-layout":
            report.add(
                code,
                "error",
                f"{count}/{len(names)} keys use the legacy layout (model.layers.* / visual.*); "
                "Transformers 5.23 leaves those weights RANDOM",
                "rename to model.language_model.* / model.visual.*",
                True,
            )
        else:
            prefix, who = PREFIX_INFO[code]
            report.add(
                code,
                "error",
                f"{count}/{len(names)} keys carry {prefix!r} (added by {who}); they load as RANDOM weights",
                "strip it; at load time key_mapping={r'^"
                + prefix.replace(".", "\\.")
                + "': ''} does the same",
                True,
            )
    if clash:
        report.add(
            "duplicate-tensor",
            "error",
            f"{len(clash)} names collide after normalization, e.g. {clash[0]}",
            "keep one copy by hand",
        )
    groups = expert_groups(list(virtual))
    for group, projs in groups.items():
        idx = [set(projs.get(p, {})) for p in ("gate_proj", "up_proj", "down_proj")]
        n_exp = max((max(s) + 1 for s in idx if s), default=0)
        complete = all(s == set(range(n_exp)) for s in idx)
        gate = virtual[projs["gate_proj"][0]] if complete else None
        down = virtual[projs["down_proj"][0]] if complete else None
        for p in projs.values():
            for src in p.values():
                virtual.pop(src)
        if complete:
            (i, h), dt = gate[1], gate[0]
            gu, dn = fused_names(group)
            virtual[gu] = (dt, (n_exp, 2 * i, h))
            virtual[dn] = (down[0], (n_exp, *down[1]))
    if groups:
        report.add(
            "experts-per-expert",
            "error",
            f"{len(groups)} MoE layers store per-expert tensors "
            "(experts.N.gate_proj/up_proj/down_proj.weight); Transformers 5.23 does not convert them: "
            "RANDOM experts",
            "fuse into experts.gate_up_proj [E, 2I, H] and experts.down_proj [E, H, I]",
            True,
        )
    return virtual
