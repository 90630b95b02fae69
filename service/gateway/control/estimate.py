"""The most a call can cost, known before it is made.

A reservation must be an upper bound of what the call will be charged, or concurrent
calls could overspend a budget. For each target a route may use:

    prompt   tiktoken's count of the body; for providers whose tokenizer is not
             tiktoken's, that count times ``FOREIGN_TOKENIZER_MARGIN``
    output   ``n`` x the client's ``max_completion_tokens``/``max_tokens``; without
             one, the target's output limit, which is then sent upstream so the
             provider cannot exceed it
    price    every prompt token at the dearest prompt rate (cache writes cost more
             than plain input at Anthropic), every output token at the output rate

The route's maximum cost is its dearest target's, since routing happens later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..accounting.pricing import PriceCard
from ..accounting.tokens import (
    count_embedding_input_tokens,
    count_prompt_tokens,
    encoding_for,
)
from ..config import DEMO_PRICE, Route, Target
from ..errors import NotFoundError, PermissionDeniedError
from ..keys import VirtualKey
from ..providers import anthropic
from ..providers.types import Usage

if TYPE_CHECKING:
    from ..context import Gateway

# Output limit assumed for a target that declares none (config ``max_output_tokens``)
# and whose provider has no default of its own; every current chat model accepts it.
DEFAULT_OUTPUT_LIMIT = 4096
# Anthropic's and open models' tokenizers count the same text differently from
# tiktoken, usually by less than a fifth; the margin keeps the reservation above.
FOREIGN_TOKENIZER_MARGIN = 1.25
_TIKTOKEN_TYPES = frozenset({"openai", "demo"})
# Where the output limit came from, as the estimate endpoint reports it.
REQUEST, TARGET, PROVIDER, GATEWAY = "request", "target", "provider", "gateway"


@dataclass(frozen=True, slots=True)
class TargetCost:
    """One target's tokens and USD for a call: ``prompt_tokens`` as counted,
    ``prompt_tokens_max`` with the tokenizer margin, ``output_tokens`` at most; the
    cost from the prompt alone (min) to everything at the dearest rates (max)."""

    target: Target
    card: PriceCard
    prompt_tokens: int
    prompt_tokens_max: int
    output_tokens: int
    min_cost_usd: float
    max_cost_usd: float


@dataclass(frozen=True, slots=True)
class RouteCost:
    """A route's bounds for a call: the dearest target's, and how output was limited.

    ``output_limit`` is per choice (None for embeddings); ``tokens`` is the prompt and
    output bound together, what a tokens-per-minute limit is charged up front.
    """

    route: Route
    targets: tuple[TargetCost, ...]
    output_limit: int | None
    output_limit_source: str

    @property
    def max_cost_usd(self) -> float:
        return max(cost.max_cost_usd for cost in self.targets)

    @property
    def min_cost_usd(self) -> float:
        return min(cost.min_cost_usd for cost in self.targets)

    @property
    def tokens(self) -> int:
        return max(cost.prompt_tokens_max + cost.output_tokens for cost in self.targets)


def card_for_target(gateway: Gateway, target: Target) -> PriceCard:
    """The price card a call to ``target`` is charged with (config override first)."""
    entry = gateway.config.providers[target.provider]
    override = target.price
    if override is None and entry.endpoint.type == "demo":
        override = DEMO_PRICE

    return gateway.pricer.card_for(entry.pricing_provider, target.model, override)


def estimate_route(
    gateway: Gateway, route: Route, body: dict[str, Any], endpoint: str
) -> RouteCost:
    """Bound the cost of sending ``body`` (a chat or embeddings body) to ``route``."""
    is_chat = endpoint != "embeddings"
    requested = requested_output_limit(body) if is_chat else None
    limit, source = (requested, REQUEST) if requested is not None else (None, "")
    if is_chat and limit is None:
        limit, source = route_output_limit(gateway, route)
    choices = body.get("n") if isinstance(body.get("n"), int) else 1

    counts: dict[str, int] = {}
    targets = []
    for target in route.targets:
        prompt = _prompt_tokens(target, body, is_chat, counts)
        bound = _with_margin(gateway, target, prompt)
        output = (limit or 0) * max(choices, 1)
        card = card_for_target(gateway, target)
        targets.append(
            TargetCost(
                target=target,
                card=card,
                prompt_tokens=prompt,
                prompt_tokens_max=bound,
                output_tokens=output,
                min_cost_usd=card.price(Usage(prompt_tokens=prompt)),
                max_cost_usd=max_cost(card, bound, output),
            )
        )

    return RouteCost(route, tuple(targets), limit, source)


def requested_output_limit(body: dict[str, Any]) -> int | None:
    """The client's own output limit per choice (``max_completion_tokens`` first)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value

    return None


def route_output_limit(gateway: Gateway, route: Route) -> tuple[int, str]:
    """The output limit to assume and send when the client gives none: the lowest of
    the targets' limits, so every target accepts it. Returns (limit, source)."""
    limits = [target_output_limit(gateway, target) for target in route.targets]
    return min(limits)


def target_output_limit(gateway: Gateway, target: Target) -> tuple[int, str]:
    if target.max_output_tokens:
        return target.max_output_tokens, TARGET

    endpoint = gateway.config.providers[target.provider].endpoint
    if endpoint.type == "anthropic":
        return anthropic.choose_max_tokens(target.model, {}, endpoint.options), PROVIDER

    return DEFAULT_OUTPUT_LIMIT, GATEWAY


def max_cost(card: PriceCard, prompt_tokens: int, output_tokens: int) -> float:
    """USD of ``prompt_tokens`` at the dearest prompt rate plus the output."""
    plain = card.price(
        Usage(prompt_tokens=prompt_tokens, completion_tokens=output_tokens)
    )
    written = card.price(
        Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=output_tokens,
            cache_write_tokens=prompt_tokens,
        )
    )
    return max(plain, written)


def output_limit_field(gateway: Gateway, route: Route) -> str:
    """The body field that carries an assumed output limit upstream.

    OpenAI's own API wants ``max_completion_tokens`` (its reasoning models refuse
    ``max_tokens``); OpenAI-compatible servers know ``max_tokens``; the Anthropic
    translation reads either.
    """
    types = {gateway.config.providers[t.provider].endpoint.type for t in route.targets}
    native = {"openai", "anthropic", "demo"}
    return "max_completion_tokens" if types <= native else "max_tokens"


def _prompt_tokens(
    target: Target, body: dict[str, Any], is_chat: bool, counts: dict[str, int]
) -> int:
    """tiktoken's count for the target's encoding (counted once per encoding)."""
    encoding = encoding_for(target.model).name
    counted = counts.get(encoding)
    if counted is None:
        counted = (
            count_prompt_tokens(body, target.model)
            if is_chat
            else count_embedding_input_tokens(body, target.model)
        )
        counts[encoding] = counted

    return counted


def _with_margin(gateway: Gateway, target: Target, counted: int) -> int:
    provider_type = gateway.config.providers[target.provider].endpoint.type
    if provider_type in _TIKTOKEN_TYPES:
        return counted

    return math.ceil(counted * FOREIGN_TOKENIZER_MARGIN)


def estimate_models(
    gateway: Gateway, key: VirtualKey, body: dict[str, Any]
) -> dict[str, Any]:
    """The estimate endpoint's answer: for each candidate model (``models``, else
    ``model``) the prompt tokens, output limit and cost range. 404 or 403 naming
    ``models.<i>`` for a model that does not exist or the key may not use."""
    names = body.get("models") or [body["model"]]
    param = "models" if body.get("models") else "model"
    data = []
    for index, name in enumerate(names):
        where = f"{param}.{index}" if param == "models" else param
        if not key.allows_model(name):
            raise PermissionDeniedError(
                f"this key may not use model {name!r}",
                param=where,
                code="model_not_allowed",
            )
        route = gateway.config.find_route(name)
        if route is None:
            raise NotFoundError(
                f"the model {name!r} does not exist on this gateway",
                param=where,
                code="model_not_found",
            )
        data.append(_route_estimate(estimate_route(gateway, route, body, "chat")))

    return {"object": "list", "data": data}


def _route_estimate(cost: RouteCost) -> dict[str, Any]:
    first = cost.targets[0]
    return {
        "object": "cost_estimate",
        "model": cost.route.name,
        "prompt_tokens": max(t.prompt_tokens for t in cost.targets),
        "max_output_tokens": first.output_tokens,
        "output_limit_source": cost.output_limit_source,
        "min_cost_usd": round(cost.min_cost_usd, 10),
        "max_cost_usd": round(cost.max_cost_usd, 10),
        "targets": [
            {
                "target": t.target.id,
                "price_source": t.card.source,
                "input_per_mtok": t.card.input_per_mtok,
                "output_per_mtok": t.card.output_per_mtok,
                "prompt_tokens": t.prompt_tokens,
                "prompt_tokens_max": t.prompt_tokens_max,
                "max_output_tokens": t.output_tokens,
                "min_cost_usd": round(t.min_cost_usd, 10),
                "max_cost_usd": round(t.max_cost_usd, 10),
            }
            for t in cost.targets
        ],
    }
