"""Provider registry: provider type -> module of pure translation functions.

To add a provider type: write one module with the functions of ``ProviderModule``
(``types.py``), add one line to ``PROVIDER_TYPES``, a fake server dialect under
``tests/fakes/``, a test module ``tests/providers/test_<type>.py`` and a section in
docs/providers.md. ``tests/test_architecture.py`` fails if one of those is missing.

A server that speaks OpenAI's dialect needs no module: it is an ``openai-compatible``
entry in the config, and ``KNOWN_PROVIDERS`` below gives the usual ones their default
base URL, key variable and model names.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import anthropic, openai

PROVIDER_TYPES: dict[str, ModuleType] = {
    "openai": openai,
    "openai-compatible": openai,
    "anthropic": anthropic,
    "demo": openai,
}

DEMO_BASE_URL = "demo://local/v1"


@dataclass(frozen=True, slots=True)
class KnownProvider:
    """Defaults for a well-known provider: enabled when ``key_env`` is set."""

    type: str
    base_url: str
    key_env: str | None
    pricing_provider: str | None
    models: tuple[str, ...]
    base_url_env: str | None = None


KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    "openai": KnownProvider(
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "openai",
        (
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-4.1",
            "gpt-4.1-mini",
            "o4-mini",
            "text-embedding-3-small",
            "text-embedding-3-large",
        ),
    ),
    "anthropic": KnownProvider(
        "anthropic",
        "https://api.anthropic.com/v1",
        "ANTHROPIC_API_KEY",
        "anthropic",
        ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"),
    ),
    "gemini": KnownProvider(
        "openai-compatible",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "GEMINI_API_KEY",
        "google",
        ("gemini-2.5-flash", "gemini-2.5-pro"),
    ),
    "mistral": KnownProvider(
        "openai-compatible",
        "https://api.mistral.ai/v1",
        "MISTRAL_API_KEY",
        "mistral",
        ("mistral-large-latest", "mistral-small-latest", "mistral-embed"),
    ),
    "groq": KnownProvider(
        "openai-compatible",
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
        "groq",
        ("llama-3.3-70b-versatile", "llama-3.1-8b-instant"),
    ),
    "deepseek": KnownProvider(
        "openai-compatible",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
        "deepseek",
        ("deepseek-chat", "deepseek-reasoner"),
    ),
    "together": KnownProvider(
        "openai-compatible",
        "https://api.together.xyz/v1",
        "TOGETHER_API_KEY",
        "together",
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo",),
    ),
    "openrouter": KnownProvider(
        "openai-compatible",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        "openrouter",
        ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"),
    ),
    "ollama": KnownProvider(
        "openai-compatible",
        "http://127.0.0.1:11434/v1",
        None,
        None,
        (),
        base_url_env="OLLAMA_BASE_URL",
    ),
}

# The genai-prices provider id a provider type is priced with, unless the config
# names one (``pricing_provider``).
DEFAULT_PRICING_PROVIDER = {"openai": "openai", "anthropic": "anthropic"}


def provider_module(provider_type: str) -> ModuleType:
    """The translation module of ``provider_type`` (validated at config load)."""
    return PROVIDER_TYPES[provider_type]
