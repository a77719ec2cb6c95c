"""One interface for inference: local Transformers, or an OpenAI-compatible HTTP endpoint.

`make_backend("tiny")`, `make_backend("Qwen/Qwen3-VL-30B-A3B-Instruct")` or `make_backend("/models/qwen")`
load the model here (through helpers.core.model / loading / inference). `make_backend("http://host:8000")`
talks to a server — vLLM (`vllm serve`), SGLang, or `transformers serve` — through
``POST /v1/chat/completions``, images sent as ``data:image/png;base64,…`` URLs, with a timeout, retries
on connection errors / 5xx, and one clear error when nobody answers. ``served_model`` is the name the
server knows the model by (``transformers serve PATH`` pins it to PATH itself).

Example:
    >>> backend = make_backend("tiny")
    >>> from PIL import Image
    >>> result = backend.generate([Image.new("RGB", (320, 240))], "Describe it.", max_new_tokens=4)
    >>> result.visual_tokens, backend.random_weights
    ([80], True)
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.infer.generate import GenerationResult, generate_answers


class BackendError(WorkbookError, RuntimeError):
    """The backend could not answer (server down, model name wrong, …); the message says what to do."""


def _load_image(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.open(image).convert("RGB")


def _stamped_random(source: str) -> bool:
    """True for a folder that a tiny fixture build stamped as random weights (even when given by path)."""
    from pathlib import Path

    stamp = Path(source) / "fixture-stamp.json"
    try:
        return bool(json.loads(stamp.read_text()).get("random_weights")) if stamp.is_file() else False
    except (OSError, json.JSONDecodeError):
        return False


class Backend:
    """What every backend offers: `generate` one request, `generate_batch` many."""

    name: str = "backend"
    random_weights: bool = False
    batch_size: int = 1

    @property
    def label(self) -> str:
        return self.name + (
            " (RANDOM weights: outputs are noise, not answers)" if self.random_weights else ""
        )

    def generate(
        self, images: list[Any], prompt: str, max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> GenerationResult:
        raise NotImplementedError

    def generate_batch(
        self, requests: list[tuple[list[Any], str]], max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> list[GenerationResult]:
        """Answer several (images, prompt) requests; the default runs them one by one."""
        return [self.generate(imgs, prompt, max_new_tokens, **processor_kwargs) for imgs, prompt in requests]


class LocalBackend(Backend):
    """Transformers in this process: `tiny`, a Hub id or a local folder (loaded once, lazily)."""

    def __init__(self, model_setting: str | None = None, batch_size: int = 4, **from_pretrained_kwargs: Any):
        from helpers.core.model import select_model

        self.choice = select_model(model_setting)
        self.name = self.choice.spec
        self.random_weights = self.choice.random_weights or _stamped_random(self.choice.source)
        self.batch_size = batch_size
        self._kwargs = from_pretrained_kwargs
        self._loaded: tuple[Any, Any] | None = None

    @property
    def model_and_processor(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from helpers.load.loading import load_model

            model, processor, _report = load_model(self.choice, **self._kwargs)
            self._loaded = (model, processor)
        return self._loaded

    def generate(
        self, images: list[Any], prompt: str, max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> GenerationResult:
        return self._answers([(images, prompt)], max_new_tokens, **processor_kwargs)[0]

    def generate_batch(
        self, requests: list[tuple[list[Any], str]], max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> list[GenerationResult]:
        """Padded batches of `batch_size` through one `generate` call each (left padding)."""
        out: list[GenerationResult] = []
        for start in range(0, len(requests), self.batch_size):
            out += self._answers(
                requests[start : start + self.batch_size], max_new_tokens, **processor_kwargs
            )
        return out

    def _answers(
        self, requests: list[tuple[list[Any], str]], max_new_tokens: int, **processor_kwargs: Any
    ) -> list[GenerationResult]:
        model, processor = self.model_and_processor
        loaded = [([_load_image(i) for i in imgs], prompt) for imgs, prompt in requests]
        return generate_answers(model, processor, loaded, max_new_tokens, **processor_kwargs)


def image_data_url(image: Any) -> str:
    """A PNG data URL of an image (path or PIL image), as OpenAI-compatible servers accept.

    Example:
        >>> from PIL import Image
        >>> image_data_url(Image.new("RGB", (2, 2)))[:22]
        'data:image/png;base64,'
    """
    buf = io.BytesIO()
    _load_image(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def openai_messages(images: list[Any], prompt: str) -> list[dict[str, Any]]:
    """One user message: an ``image_url`` part per image (data URL), then the text."""
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_url(i)}} for i in images
    ]
    parts.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": parts}]


class HttpBackend(Backend):
    """An OpenAI-compatible server (vLLM, SGLang, `transformers serve`) at `base_url`.

    Retries connection errors, timeouts and 5xx answers `retries` times with a growing pause;
    4xx answers fail at once with the server's own message. Images are resized on this side to the
    `max_pixels`/`min_pixels` budget (the same `smart_resize` the processor applies), so the
    visual-token count reported here is what the server's processor will produce.
    """

    def __init__(
        self,
        base_url: str,
        served_model: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        concurrency: int = 4,
        random_weights: bool = False,
    ):
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.batch_size = concurrency
        self.random_weights = random_weights
        self.served_model = served_model or self._first_model()
        self.name = f"{self.served_model} @ {root}"

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        data = json.dumps(payload).encode() if payload is not None else None
        last = ""
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(
                url, data=data, method=method, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                body = err.read().decode("utf-8", "replace")
                try:
                    detail = json.loads(body).get("detail") or json.loads(body).get("error") or body
                except (json.JSONDecodeError, AttributeError):
                    detail = body
                if err.code < 500:
                    raise BackendError(f"{url} answered HTTP {err.code}: {str(detail)[:300]}") from None
                last = f"HTTP {err.code}: {str(detail)[:200]}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                last = str(getattr(err, "reason", err)) or type(err).__name__
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise BackendError(
            f"no OpenAI-compatible server answered at {self.base_url} after {self.retries + 1} tries "
            f"({last}); "
            f"start one (e.g. `transformers serve MODEL --port 8000`, `vllm serve MODEL`) or fix --model"
        )

    def _first_model(self) -> str:
        try:
            listing = self._request("GET", "/models")
            return listing["data"][0]["id"]
        except (BackendError, KeyError, IndexError, TypeError) as err:
            raise BackendError(
                f"could not list the models at {self.base_url} ({err}); name the model with --served-model "
                "(for `transformers serve PATH` it is PATH)"
            ) from None

    def generate(
        self, images: list[Any], prompt: str, max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> GenerationResult:
        from helpers.estimate.vision_tokens import visual_tokens
        from helpers.infer.inputs import fit_to_budget
        from helpers.infer.sampling import GREEDY, guard_repetition, openai_params

        sampling = processor_kwargs.pop("sampling", None)
        lo, hi = processor_kwargs.get("min_pixels"), processor_kwargs.get("max_pixels")
        sized = [fit_to_budget(_load_image(i), min_pixels=lo, max_pixels=hi) for i in images]
        payload = {
            "model": self.served_model,
            "messages": openai_messages(sized, prompt),
            "max_tokens": max_new_tokens,
            **openai_params(sampling or GREEDY),  # greedy (temperature 0) unless settings are given
        }
        start = time.perf_counter()
        answer = self._request("POST", "/chat/completions", payload)
        seconds = time.perf_counter() - start
        try:
            text = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(
                f"{self.base_url} sent an answer without choices[0].message.content: {str(answer)[:200]}"
            ) from None
        usage = answer.get("usage") or {}
        flags: list[str] = []
        if sampling is not None and sampling.guard:
            text, looped = guard_repetition(text)
            flags = ["repetition"] if looped else []
        return GenerationResult(
            text=text,
            flags=flags,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            visual_tokens=[visual_tokens(*img.size) for img in sized],
            new_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
        )

    def generate_batch(
        self, requests: list[tuple[list[Any], str]], max_new_tokens: int = 64, **processor_kwargs: Any
    ) -> list[GenerationResult]:
        """Concurrent requests (`concurrency` at a time): servers batch them on their side."""
        with ThreadPoolExecutor(max_workers=max(1, self.batch_size)) as pool:
            futures = [
                pool.submit(self.generate, imgs, p, max_new_tokens, **processor_kwargs)
                for imgs, p in requests
            ]
            return [f.result() for f in futures]


def is_http(model_setting: str | None) -> bool:
    return bool(model_setting) and str(model_setting).startswith(("http://", "https://"))


def make_backend(model_setting: str | None = None, served_model: str | None = None, **kwargs: Any) -> Backend:
    """A backend for the model setting: an http(s) URL gives `HttpBackend`, anything else `LocalBackend`.

    Example:
        >>> make_backend("http://127.0.0.1:9", served_model="m", retries=0).name
        'm @ http://127.0.0.1:9'
    """
    if is_http(model_setting):
        return HttpBackend(str(model_setting), served_model=served_model, **kwargs)
    return LocalBackend(model_setting, **kwargs)
