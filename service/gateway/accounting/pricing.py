"""Price usage in USD from maintained data (genai-prices), with config overrides.

genai-prices' own calculation costs ~160 µs per call here, too much for every request,
so each (provider, model, day) is turned once into a ``PriceCard`` of per-token rates
read from the package's data; costs are then a few multiplications. Models with tiered
prices (e.g. above 200k input tokens) go through genai-prices' calculation past the
first tier's threshold. Every priced call records the card's ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import Usage as PricesUsage
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice, TieredPrices

from ..providers.types import Usage

PRICES_SOURCE = f"genai-prices {genai_prices.__version__}"
_MTOK = 1_000_000
# Rates are read by pricing this many tokens: below every tier threshold in the data.
_PROBE_TOKENS = 1000


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """USD per million tokens, from the config. Unset cache rates use the input rate."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class PriceCard:
    """Per-token USD rates for one model, and where they came from."""

    source: str
    input: float
    output: float
    cached_input: float
    cache_write: float
    tier_threshold: int | None = None
    model_price: ModelPrice | None = None

    def price(self, usage: Usage) -> float:
        """Return the USD cost of ``usage``."""
        if (
            self.tier_threshold is not None
            and usage.prompt_tokens > self.tier_threshold
        ):
            return _price_with_library(self.model_price, usage)

        uncached = usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
        return (
            max(uncached, 0) * self.input
            + usage.cached_tokens * self.cached_input
            + usage.cache_write_tokens * self.cache_write
            + usage.completion_tokens * self.output
        )

    @property
    def input_per_mtok(self) -> float:
        return self.input * _MTOK

    @property
    def output_per_mtok(self) -> float:
        return self.output * _MTOK


UNPRICED = PriceCard("unpriced", 0.0, 0.0, 0.0, 0.0)


def card_from_override(override: PriceOverride) -> PriceCard:
    cached = override.cached_input_per_mtok
    write = override.cache_write_per_mtok
    return PriceCard(
        source="config",
        input=override.input_per_mtok / _MTOK,
        output=override.output_per_mtok / _MTOK,
        cached_input=(override.input_per_mtok if cached is None else cached) / _MTOK,
        cache_write=(override.input_per_mtok if write is None else write) / _MTOK,
    )


class Pricer:
    """Finds and caches the price card of each (pricing provider, model, day)."""

    def __init__(self) -> None:
        self._cards: dict[tuple[str | None, str, date], PriceCard] = {}

    def card_for(
        self,
        pricing_provider: str | None,
        model: str,
        override: PriceOverride | None = None,
        when: datetime | None = None,
    ) -> PriceCard:
        """The card for ``model``; UNPRICED when genai-prices does not know it."""
        if override is not None:
            return card_from_override(override)

        when = when or datetime.now(UTC)
        key = (pricing_provider, model, when.date())
        card = self._cards.get(key)
        if card is None:
            card = _card_from_prices_data(pricing_provider, model, when)
            self._cards[key] = card

        return card

    def context_window(self, pricing_provider: str | None, model: str) -> int | None:
        """The model's input limit in tokens from genai-prices, if known."""
        info = _find_model(pricing_provider, model)
        return info.context_window if info is not None else None


def _find_model(pricing_provider: str | None, model: str) -> Any:
    try:
        _, info = get_snapshot().find_provider_model(
            model, None, pricing_provider, None
        )
    except LookupError:
        return None

    return info


def _card_from_prices_data(
    pricing_provider: str | None, model: str, when: datetime
) -> PriceCard:
    info = _find_model(pricing_provider, model)
    if info is None:
        return UNPRICED

    prices = info.get_prices(when)
    tiers = [
        value.tiers[0].start
        for value in vars(prices).values()
        if isinstance(value, TieredPrices) and value.tiers
    ]
    return PriceCard(
        source=PRICES_SOURCE,
        input=_rate(prices, input_tokens=_PROBE_TOKENS),
        output=_rate(prices, output_tokens=_PROBE_TOKENS),
        cached_input=_rate(
            prices, input_tokens=_PROBE_TOKENS, cache_read_tokens=_PROBE_TOKENS
        ),
        cache_write=_rate(
            prices, input_tokens=_PROBE_TOKENS, cache_write_tokens=_PROBE_TOKENS
        ),
        tier_threshold=min(tiers) if tiers else None,
        model_price=prices,
    )


def _rate(prices: ModelPrice, **counts: int) -> float:
    total: Decimal = prices.calc_price(PricesUsage(**counts))["total_price"]
    return float(total / _PROBE_TOKENS)


def _price_with_library(prices: ModelPrice | None, usage: Usage) -> float:
    if prices is None:
        return 0.0

    counted = PricesUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    return float(prices.calc_price(counted)["total_price"])
