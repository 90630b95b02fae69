from __future__ import annotations

import pytest
from genai_prices import Usage as PricesUsage
from genai_prices import calc_price

from gateway.accounting.pricing import PRICES_SOURCE, UNPRICED, PriceOverride, Pricer
from gateway.providers.types import Usage


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("openai", "gpt-4o-mini", Usage(1200, 300, cached_tokens=200)),
        ("openai", "gpt-4o", Usage(5000, 1000, reasoning_tokens=0)),
        (
            "anthropic",
            "claude-sonnet-4-5",
            Usage(2000, 100, cached_tokens=1000, cache_write_tokens=500),
        ),
        ("anthropic", "claude-sonnet-4-5", Usage(250_000, 100)),
        ("google", "gemini-2.5-flash", Usage(900, 90)),
    ],
)
def test_price_card_matches_genai_prices_own_calculation(
    provider: str, model: str, usage: Usage
) -> None:
    card = Pricer().card_for(provider, model)
    expected = calc_price(
        PricesUsage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cache_read_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        ),
        model_ref=model,
        provider_id=provider,
    ).total_price

    assert card.source == PRICES_SOURCE
    assert card.price(usage) == pytest.approx(float(expected), rel=1e-9)


def test_unknown_model_is_unpriced_not_an_error() -> None:
    assert Pricer().card_for("openai", "no-such-model-xyz") is UNPRICED
    assert UNPRICED.price(Usage(100, 100)) == 0.0


def test_config_override_wins_and_is_recorded_as_config() -> None:
    override = PriceOverride(
        input_per_mtok=1.0, output_per_mtok=2.0, cached_input_per_mtok=0.5
    )

    card = Pricer().card_for("openai", "gpt-4o", override)

    assert card.source == "config"
    assert card.price(
        Usage(1_000_000, 1_000_000, cached_tokens=500_000)
    ) == pytest.approx(2.75)
