"""Quantisation coverage really measured on the meta model, and which precision fits which hardware.

`quantisation_coverage` asks each quantiser of Transformers to prepare the meta 30B exactly as
`from_pretrained(quantization_config=…)` would (`AutoHfQuantizer.preprocess_model`), then counts which
bytes sit in replaced modules: bitsandbytes replaces `nn.Linear` only, so the fused 3-D experts stay bf16.

Example:
    >>> rows = quantisation_coverage("data/configs/Qwen3-VL-30B-A3B-Instruct.json")
    >>> [(r.method, round(r.converted_fraction, 2)) for r in rows]   # doctest: +SKIP
    [('bitsandbytes 4-bit', 0.05), ('bitsandbytes 8-bit', 0.05), ('fp8 (fine-grained)', 0.97)]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.core.errors import WorkbookError
from helpers.core.tables import frame
from helpers.core.units import fmt_gib, gib


@dataclass
class QuantCoverage:
    """Which bytes one quantisation method converts, measured on the meta model."""

    method: str
    total_bytes: int
    converted_bytes: int
    bytes_per_param: float
    kept: dict[str, int] = field(default_factory=dict)  # module class -> bf16 bytes left unconverted
    converted_modules: dict[str, int] = field(default_factory=dict)  # new class -> count

    @property
    def converted_fraction(self) -> float:
        return self.converted_bytes / max(self.total_bytes, 1)

    def weights_bytes(self) -> int:
        """Weight bytes after quantisation (scales and statistics not counted: a few % of converted bytes)."""
        return int(self.converted_bytes / 2 * self.bytes_per_param) + (
            self.total_bytes - self.converted_bytes
        )


def _quant_configs() -> list[tuple[str, Any, float]]:
    from transformers import BitsAndBytesConfig, FineGrainedFP8Config

    return [
        ("bitsandbytes 4-bit", BitsAndBytesConfig(load_in_4bit=True), 0.5),
        ("bitsandbytes 8-bit", BitsAndBytesConfig(load_in_8bit=True), 1.0),
        ("fp8 (fine-grained)", FineGrainedFP8Config(), 1.0),
    ]


def _param_bytes(module: Any) -> int:
    return sum(p.numel() * 2 for p in module.parameters(recurse=True))  # bf16, as the release stores them


def quantisation_coverage(config: str | Path) -> list[QuantCoverage]:
    """For each method, let Transformers' own quantiser rewrite a fresh meta model and count what it
    replaced."""
    from transformers.quantizers import AutoHfQuantizer

    from helpers.estimate.census import meta_model

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)  # "pip install kernels" hint
    rows = []
    for method, qconfig, per_param in _quant_configs():
        model = meta_model(config, "bfloat16")
        before = {name: type(mod) for name, mod in model.named_modules()}
        sizes = {name: _param_bytes(mod) for name, mod in model.named_modules()}
        total = sizes[""]
        try:
            quantizer = AutoHfQuantizer.from_config(qconfig, pre_quantized=False)
            quantizer.preprocess_model(model, device_map=None, keep_in_fp32_modules=[])
        except Exception as err:
            raise WorkbookError(
                f"{method}: Transformers could not prepare the model ({type(err).__name__}: "
                f"{str(err).splitlines()[0]}); check the installed quantisation packages"
            ) from None
        after = dict(model.named_modules())
        replaced = [n for n, cls in before.items() if n in after and type(after[n]) is not cls]
        top = [n for n in replaced if not any(n.startswith(o + ".") for o in replaced if o != n)]
        converted = sum(sizes[n] for n in top)
        new_classes: dict[str, int] = {}
        for n in top:
            new_classes[type(after[n]).__name__] = new_classes.get(type(after[n]).__name__, 0) + 1
        kept: dict[str, int] = {}
        for n, cls in before.items():
            mod = after.get(n)
            if mod is None or n in replaced or any(n.startswith(t + ".") for t in top):
                continue
            own = sum(p.numel() * 2 for p in mod.parameters(recurse=False))
            if own:
                kept[cls.__name__] = kept.get(cls.__name__, 0) + own
        rows.append(
            QuantCoverage(
                method,
                total,
                converted,
                per_param,
                dict(sorted(kept.items(), key=lambda kv: -kv[1])),
                new_classes,
            )
        )
    return rows


def coverage_table(rows: list[QuantCoverage]) -> pd.DataFrame:
    """DataFrame: method, converted share, weights after (GiB), the biggest part left in bf16.

    Example:
        >>> coverage_table(quantisation_coverage(CONFIG_30B))["method"].tolist()[:1]   # doctest: +SKIP
        ['bitsandbytes 4-bit']
    """
    out = []
    for r in rows:
        big = next(iter(r.kept.items()), ("-", 0))
        out.append(
            {
                "method": r.method,
                "converted (%)": round(100 * r.converted_fraction, 1),
                "weights after (GiB)": round(gib(r.weights_bytes()), 1),
                "largest part left in bf16": f"{big[0]} ({fmt_gib(big[1], 1)})",
            }
        )
    return frame(out)


def fp8_stays_fp8(capability: tuple[int, int]) -> bool:
    """Would Transformers keep an FP8 model in FP8 on a GPU of this compute capability?

    Runs the library's own `FineGrainedFP8HfQuantizer.validate_environment` with torch's device queries
    answering for that GPU; on capability < 8.9 Transformers silently dequantises to bf16 (no saving).

    Example:
        >>> fp8_stays_fp8((9, 0)), fp8_stays_fp8((8, 0))
        (True, False)
    """
    from unittest import mock

    import torch
    from transformers import FineGrainedFP8Config
    from transformers.quantizers import AutoHfQuantizer

    logging.getLogger("transformers.quantizers.quantizer_finegrained_fp8").setLevel(logging.ERROR)
    quantizer = AutoHfQuantizer.from_config(FineGrainedFP8Config(), pre_quantized=True)
    with (
        mock.patch.object(torch.cuda, "is_available", return_value=True),
        mock.patch.object(torch.cuda, "get_device_capability", return_value=capability),
    ):
        try:
            quantizer.validate_environment(device_map={"": 0})
        except Exception:  # later checks need a real device; the dequantise decision comes first
            pass
    return not quantizer.quantization_config.dequantize


GUIDE_PROFILES = [
    "1xT4-16GB",
    "1xRTX4090-24GB",
    "2xRTX4090-24GB",
    "1xL40S-48GB",
    "1xA100-40GB",
    "2xA100-40GB",
    "1xA100-80GB",
    "1xH100-80GB",
    "1xH200-141GB",
]


def decision_guide(
    config: Any, bnb4_weights_bytes: int, profiles: list[str] | None = None
) -> list[dict[str, Any]]:
    """What to do per hardware profile: does bf16 fit, does fp8 fit *and stay fp8*, would bitsandbytes
    4-bit fit
    (given its measured weight bytes), and otherwise what offload costs per token. Plans come from
    `helpers.estimate.placement` (accelerate on the meta model, room kept for a 4k-token job).

    Example:
        >>> rows = decision_guide("tiny", bnb4_weights_bytes=1, profiles=["1xT4-16GB"])  # doctest: +SKIP
        >>> rows[0]["advice"]
        "bf16, device_map='auto'"
    """
    from helpers.core.hardware import parse_gpus
    from helpers.estimate.placement import plan_placement

    rows = []
    for spec in profiles or GUIDE_PROFILES:
        hw = parse_gpus(spec)
        native = fp8_stays_fp8(hw.compute_capability)
        bf16 = plan_placement(config, hw, dtype="bfloat16").summary()
        f8 = (
            plan_placement(config, hw, dtype="fp8").summary() if native else bf16
        )  # dequantised: the bf16 job
        bnb_fits = bnb4_weights_bytes < hw.count * hw.usable_gpu_bytes()
        if bf16["fits"]:
            advice = "bf16, device_map='auto'"
        elif native and f8["fits"]:
            advice = "fp8 on GPU" + ("" if bnb_fits else " (bitsandbytes 4-bit would not fit)")
        else:
            kind = "fp8" if native else "bf16 (fp8 is dequantised here)"
            advice = (
                f"offload: {kind} + {fmt_gib(f8['cpu_bytes'], 0)} on CPU "
                f"(~{f8['seconds_per_token_transfer']:.2f} s/token)"
            )
        rows.append(
            {
                "profile": spec,
                "bf16": bf16["fits"],
                "fp8": native and f8["fits"],
                "bnb4": bnb_fits,
                "advice": advice,
            }
        )
    return rows
