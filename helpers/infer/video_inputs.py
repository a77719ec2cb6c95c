"""Video into Qwen3-VL with Transformers 5.23: frames as arrays with their VideoMetadata (no decoder needed),
the prompt layout the processor builds, the reference layout it differs from, and a greedy video request.

Decoders: `transformers.video_utils.load_video` picks torchcodec when it is installed, else PyAV, decord or
OpenCV by `backend=`; none is needed when frames are given as a numpy array [frames, H, W, 3] plus
``VideoMetadata(total_num_frames, fps, width, height, duration)``. Without metadata the processor assumes
24 fps, so every timestamp in the prompt is wrong for any other clip.

Layout: Transformers 5.23 replaces only ``<|video_pad|>`` with per-temporal-patch blocks
``<t seconds><|vision_start|><|video_pad|>…<|vision_end|>``, so the template's own ``<|vision_start|>`` and
``<|vision_end|>`` stay around them (nested markers). Transformers 4.57 and qwen-vl-utils replaced the
whole ``<|vision_start|><|video_pad|><|vision_end|>`` group. `reference_ids` rebuilds that layout.

Example:
    >>> frames, meta = synthetic_frames(8, 4.0, 64, 48)
    >>> frames.shape, meta.fps, meta.duration
    ((8, 48, 64, 3), 4.0, 2.0)
"""

from __future__ import annotations

from typing import Any

GROUP = "<|vision_start|><|video_pad|><|vision_end|>"

# The official Qwen3-VL chat template (Qwen/Qwen3-VL-30B-A3B-Instruct, chat_template.json), its user turn and
# generation prompt as published (the system/tools and assistant branches are left out: a video only ever
# enters through a user turn).
OFFICIAL_USER_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}\n"
    "{%- set video_count = namespace(value=0) %}\n"
    "{%- for message in messages %}\n"
    '    {%- if message.role == "user" %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "        {%- if message.content is string %}\n"
    "            {{- message.content }}\n"
    "        {%- else %}\n"
    "            {%- for content in message.content %}\n"
    "                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}\n"
    "                    {%- set image_count.value = image_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|image_pad|><|vision_end|>\n"
    "                {%- elif content.type == 'video' or 'video' in content %}\n"
    "                    {%- set video_count.value = video_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|video_pad|><|vision_end|>\n"
    "                {%- elif 'text' in content %}\n"
    "                    {{- content.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)


def synthetic_frames(n: int, fps: float, width: int, height: int, draw: Any = None):
    """(frames uint8 [n, H, W, 3], VideoMetadata): `draw(i, PIL image)` paints frame i (else plain grey).

    Example:
        >>> synthetic_frames(4, 2.0, 32, 32)[1].total_num_frames
        4
    """
    import numpy as np
    from PIL import Image
    from transformers.video_utils import VideoMetadata

    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        img = Image.new("RGB", (width, height), (128, 128, 128))
        if draw is not None:
            draw(i, img)
        frames[i] = np.asarray(img)
    meta = VideoMetadata(total_num_frames=n, fps=fps, width=width, height=height, duration=n / fps)
    return frames, meta


def video_messages(prompt: str, add_video_first: bool = True) -> list[dict[str, Any]]:
    """A user turn with one video and a question, in the chat-template format.

    Example:
        >>> [c["type"] for c in video_messages("What happens?")[0]["content"]]
        ['video', 'text']
    """
    content = [{"type": "video"}, {"type": "text", "text": prompt}]
    return [{"role": "user", "content": content if add_video_first else content[::-1]}]


def render(template: str, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    """Render a chat template the way Transformers does (its own sandboxed Jinja environment).

    Example:
        >>> render("{{ messages[0].content }}", [{"role": "user", "content": "hi"}])
        'hi'
    """
    from transformers.utils.chat_template_utils import _compile_jinja_template

    return _compile_jinja_template(template).render(messages=messages, **kwargs)


def processor_ids(
    processor: Any, frames: Any, meta: Any, text: str, **video_kwargs: Any
) -> tuple[list[int], Any]:
    """The ids Transformers 5.23's processor makes of `text` (holding the template's video group), and the
    batch."""
    out = processor(text=[text], videos=[frames], video_metadata=[meta], return_tensors="pt", **video_kwargs)
    return out["input_ids"][0].tolist(), out


def reference_ids(processor: Any, text: str, grid_thw: Any, timestamps: list[float]) -> list[int]:
    """The ids of the reference layout (Transformers 4.57 / qwen-vl-utils): the WHOLE
    ``<|vision_start|><|video_pad|><|vision_end|>`` group replaced by the per-patch blocks."""
    t, h, w = (int(x) for x in grid_thw)
    per_frame = h * w // processor.video_processor.merge_size**2
    blocks = "".join(
        f"<{ts:.1f} seconds><|vision_start|>" + "<|video_pad|>" * per_frame + "<|vision_end|>"
        for ts in timestamps[:t]
    )
    if GROUP not in text:
        raise ValueError("the text holds no <|vision_start|><|video_pad|><|vision_end|> group")
    return processor.tokenizer(text.replace(GROUP, blocks, 1))["input_ids"]


def layout_diff(ours: list[int], ref: list[int], tokenizer: Any) -> list[dict[str, Any]]:
    """Where two id lists differ, as rows (position, token in each) from the first difference, aligned by a
    plain sequence diff; [] when equal."""
    import difflib

    rows = []
    sm = difflib.SequenceMatcher(a=ours, b=ref, autojunk=False)
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            continue
        rows.append(
            {
                "change": op,
                "position (5.23)": a0,
                "5.23 tokens": tokenizer.convert_ids_to_tokens(ours[a0:a1]),
                "reference tokens": tokenizer.convert_ids_to_tokens(ref[b0:b1]),
            }
        )
    return rows


def ask_video(
    model: Any,
    processor: Any,
    frames: Any,
    meta: Any,
    prompt: str,
    max_new_tokens: int = 12,
    **video_kwargs: Any,
) -> dict[str, Any]:
    """One greedy video request through the chat template; the answer text and the prompt's token counts."""
    import torch

    text = processor.apply_chat_template(video_messages(prompt), add_generation_prompt=True, tokenize=False)
    ids, batch = processor_ids(processor, frames, meta, text, **video_kwargs)
    batch = batch.to(model.device)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return {
        "answer": processor.decode(out[0, len(ids) :], skip_special_tokens=True),
        "prompt_tokens": len(ids),
        "video_pad_tokens": ids.count(pad),
        "grid_thw": [int(x) for x in batch["video_grid_thw"][0]],
    }


def rope_positions(model: Any, ids: list[int], grid_thw: Any, video_pad_id: int) -> Any:
    """The model's 3-D rotary positions [3, len(ids)] for a prompt with one video (`get_rope_index`)."""
    import torch

    t = torch.tensor([ids])
    types = (t == video_pad_id).int() * 2  # mm_token_type_ids: video tokens are type 2
    grid = torch.as_tensor(grid_thw).reshape(1, 3)
    pos, _ = model.model.get_rope_index(t, types, None, grid)
    return pos[:, 0, :]


def decoder_report() -> list[dict[str, Any]]:
    """Which video decoders are importable here, and which one the video processor would use for a file.

    Transformers 5.23's `fetch_videos` tries torchcodec, then torchvision's deprecated decoding, else raises;
    `load_video(..., backend=)` also knows pyav, decord and opencv.

    Example:
        >>> {r["decoder"] for r in decoder_report()} >= {"torchcodec", "pyav", "decord", "opencv"}
        True
    """
    import importlib.util

    from transformers.utils import import_utils as iu

    usable = getattr(iu, "is_torchcodec_usable", None)
    first = bool(usable and usable(decode="video")) if usable else False
    tv = bool(getattr(iu, "is_torchvision_video_decoding_available", lambda: False)())
    rows = []
    known = (("torchcodec", "torchcodec"), ("pyav", "av"), ("decord", "decord"), ("opencv", "cv2"))
    for name, module in known:
        rows.append({"decoder": name, "installed": importlib.util.find_spec(module) is not None})
    rows.append({"decoder": "torchvision (deprecated video API)", "installed": tv})
    pick = "torchcodec" if first else ("torchvision" if tv else "none: pass frames + VideoMetadata")
    for r in rows:
        r["processor uses it for a file"] = r["decoder"].startswith(pick)
    return rows
