"""Settings from the environment and the providers/models file (YAML).

``load_settings`` reads the environment; ``load_config`` reads and validates the
config file (marshmallow), or builds the default config from the provider keys found
in the environment when there is no file. A bad file stops the start with a
``ConfigError`` naming the file, the place (dotted path, line and column) and the
problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from .accounting.pricing import PriceOverride
from .control.budget_config import BudgetDefinitionSchema, build_config_budgets
from .errors import ConfigError
from .providers import (
    DEFAULT_PRICING_PROVIDER,
    DEMO_BASE_URL,
    KNOWN_PROVIDERS,
    PROVIDER_TYPES,
)
from .providers.types import Endpoint
from .routing.settings import RouteSettings, RoutingSchema, apply_routing


@dataclass(frozen=True, slots=True)
class Settings:
    """Process settings, each from one environment variable (see the README)."""

    host: str = "127.0.0.1"
    port: int = 8080
    master_key: str | None = None
    config_path: str | None = None
    database: str = "var/gateway.db"
    workers: int = 2
    worker_connections: int = 1000
    log_level: str = "info"
    max_body_bytes: int = 20 * 1024 * 1024
    max_response_bytes: int = 32 * 1024 * 1024
    redis_url: str | None = None
    demo_latency_ms: int = 0
    redis_prefix: str = "gateway"
    clock_file: str | None = None


_SETTINGS_ENV: dict[str, tuple[str, type]] = {
    "host": ("GATEWAY_HOST", str),
    "port": ("PORT", int),
    "master_key": ("GATEWAY_MASTER_KEY", str),
    "config_path": ("GATEWAY_CONFIG", str),
    "database": ("GATEWAY_DATABASE", str),
    "workers": ("GATEWAY_WORKERS", int),
    "worker_connections": ("GATEWAY_WORKER_CONNECTIONS", int),
    "log_level": ("GATEWAY_LOG_LEVEL", str),
    "max_body_bytes": ("GATEWAY_MAX_BODY_BYTES", int),
    "max_response_bytes": ("GATEWAY_MAX_RESPONSE_BYTES", int),
    "redis_url": ("REDIS_URL", str),
    "demo_latency_ms": ("GATEWAY_DEMO_LATENCY_MS", int),
    "redis_prefix": ("GATEWAY_REDIS_PREFIX", str),
    "clock_file": ("GATEWAY_CLOCK_FILE", str),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment; raise ConfigError on a bad value."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {"workers": os.cpu_count() or 2}
    for name, (variable, kind) in _SETTINGS_ENV.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            raise ConfigError(
                f"{variable}={raw!r} is not a valid {kind.__name__}"
            ) from None

    return Settings(**values)


@dataclass(frozen=True, slots=True)
class Target:
    """One place a route can send a call: provider entry + the provider's model id."""

    provider: str
    model: str
    weight: float = 1.0
    price: PriceOverride | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Route:
    """A model name or alias clients ask for, and the targets that can serve it.

    ``levels`` are tried in order (fallbacks); the targets of one level share load.
    """

    name: str
    levels: tuple[tuple[Target, ...], ...]
    strategy: str = "weighted"
    settings: RouteSettings = field(default_factory=RouteSettings)

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(target for level in self.levels for target in level)


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    endpoint: Endpoint
    pricing_provider: str | None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Providers and routes, resolved and validated."""

    providers: dict[str, ProviderEntry]
    routes: dict[str, Route]
    source: str
    open_models: tuple[str, ...] = field(default=())
    route_defaults: RouteSettings = field(default_factory=RouteSettings)
    # The config file's budgets (control/budget_config.py).
    budgets: tuple[Any, ...] = field(default=())

    def secrets(self) -> list[str]:
        """Every provider key and provider header value: never to be shown."""
        found = []
        for entry in self.providers.values():
            if entry.endpoint.api_key:
                found.append(entry.endpoint.api_key)
            found.extend(entry.endpoint.headers.values())

        return found

    def find_route(self, model: str) -> Route | None:
        """The route for ``model``; ``provider/model-id`` reaches any open provider."""
        route = self.routes.get(model)
        if route is not None:
            return route

        provider, _, model_id = model.partition("/")
        if model_id and provider in self.open_models:
            return Route(
                model, ((Target(provider, model_id),),), settings=self.route_defaults
            )

        return None


class PriceSchema(Schema):
    class Meta:
        unknown = RAISE

    input_per_mtok = fields.Float(required=True, validate=validate.Range(min=0))
    output_per_mtok = fields.Float(required=True, validate=validate.Range(min=0))
    cached_input_per_mtok = fields.Float(validate=validate.Range(min=0))
    cache_write_per_mtok = fields.Float(validate=validate.Range(min=0))


class ProviderSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(sorted(PROVIDER_TYPES)))
    base_url = fields.Url(require_tld=False, schemes={"http", "https", "demo"})
    api_key_env = fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$"))
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    pricing_provider = fields.String()
    allow_any_model = fields.Boolean(load_default=False)


class TargetSchema(Schema):
    class Meta:
        unknown = RAISE

    provider = fields.String(required=True)
    model = fields.String(required=True, validate=validate.Length(min=1))
    weight = fields.Float(load_default=1.0, validate=validate.Range(min=0))
    price = fields.Nested(PriceSchema)
    context_window = fields.Integer(validate=validate.Range(min=1))
    max_output_tokens = fields.Integer(validate=validate.Range(min=1))


class ModelSchema(TargetSchema):
    provider = fields.String()
    model = fields.String(validate=validate.Length(min=1))
    targets = fields.List(fields.Raw(), validate=validate.Length(min=1))
    strategy = fields.String(
        load_default="weighted",
        validate=validate.OneOf(["weighted", "least-in-flight", "lowest-latency"]),
    )
    routing = fields.Nested(RoutingSchema)

    @validates_schema
    def check_one_form(self, data: dict[str, Any], **_: Any) -> None:
        has_single = "provider" in data or "model" in data
        if has_single == ("targets" in data):
            raise ValidationError(
                "give either provider and model, or a list of targets"
            )
        if has_single and not ("provider" in data and "model" in data):
            raise ValidationError("both provider and model are required")


class ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    providers = fields.Dict(
        keys=fields.String(), values=fields.Nested(ProviderSchema), load_default=dict
    )
    models = fields.Dict(
        keys=fields.String(), values=fields.Nested(ModelSchema), load_default=dict
    )
    routing = fields.Nested(RoutingSchema)
    budgets = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$")),
        values=fields.Nested(BudgetDefinitionSchema),
        load_default=dict,
    )


def load_config(
    path: str | None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Load ``path`` (or the defaults when None); raise ConfigError when invalid."""
    environ = os.environ if environ is None else environ
    if path is None:
        return default_config(environ)

    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(
            f"config file {path}: cannot be read ({exc.strerror})"
        ) from None

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"config file {path}{where}: {problem}") from None

    if not isinstance(document, dict):
        raise ConfigError(
            f"config file {path}: expected a mapping with providers and models"
        )
    try:
        data = ConfigSchema().load(document)
        return _build_config(data, path, environ)
    except ValidationError as exc:
        place, problem = _first_error(exc.messages)
        raise ConfigError(
            f"config file {path} at {place}{_locate(text, place)}: {problem}"
        ) from None


def _build_config(
    data: dict[str, Any], source: str, environ: Mapping[str, str]
) -> GatewayConfig:
    providers = {
        name: _build_provider(name, entry, environ)
        for name, entry in data["providers"].items()
    }
    if "demo" not in providers:
        providers["demo"] = _demo_provider()

    defaults = apply_routing(RouteSettings(), data.get("routing"))
    routes = {
        name: _build_route(name, entry, providers, defaults)
        for name, entry in data["models"].items()
    }
    routes.setdefault("demo", demo_route("demo"))
    open_models = tuple(
        name for name, entry in data["providers"].items() if entry["allow_any_model"]
    )
    budgets = build_config_budgets(data["budgets"], routes)
    return GatewayConfig(providers, routes, source, open_models, defaults, budgets)


def _build_provider(
    name: str, entry: dict[str, Any], environ: Mapping[str, str]
) -> ProviderEntry:
    provider_type = entry["type"]
    known = KNOWN_PROVIDERS.get(name)
    base_url = entry.get("base_url") or _default_base_url(provider_type, known)
    if base_url is None:
        raise ValidationError(
            {"providers": {name: {"base_url": ["required for this provider type"]}}}
        )

    api_key = None
    key_env = entry.get("api_key_env")
    if key_env:
        api_key = environ.get(key_env)
        if not api_key:
            raise ValidationError(
                {"providers": {name: {"api_key_env": [f"{key_env} is not set"]}}}
            )

    pricing = entry.get("pricing_provider") or DEFAULT_PRICING_PROVIDER.get(
        provider_type, known.pricing_provider if known else None
    )
    endpoint = Endpoint(
        name=name,
        type=provider_type,
        base_url=base_url,
        api_key=api_key,
        headers=dict(entry.get("headers") or {}),
    )
    return ProviderEntry(endpoint, pricing)


def _default_base_url(provider_type: str, known: Any) -> str | None:
    if provider_type == "demo":
        return DEMO_BASE_URL
    if known is not None and known.type == provider_type:
        return known.base_url

    return {name: k.base_url for name, k in KNOWN_PROVIDERS.items()}.get(provider_type)


def _build_route(
    name: str,
    entry: dict[str, Any],
    providers: Mapping[str, ProviderEntry],
    defaults: RouteSettings,
) -> Route:
    settings = apply_routing(defaults, entry.get("routing"))
    if "targets" not in entry:
        target = _build_target(entry, providers, ["models", name])
        return Route(name, ((target,),), entry["strategy"], settings)

    levels = []
    for index, item in enumerate(entry["targets"]):
        path = ["models", name, "targets", index]
        group = item if isinstance(item, list) else [item]
        if not group:
            # Calls would reach the level, find no target and fail with a 502.
            message = "a level of targets needs at least one target"
            raise ValidationError(_nest(path, [message]))
        levels.append(
            tuple(
                _build_target(_load_target(member, path), providers, path)
                for member in group
            )
        )

    return Route(name, tuple(levels), entry["strategy"], settings)


def _load_target(item: Any, path: list[Any]) -> dict[str, Any]:
    try:
        return TargetSchema().load(item)
    except ValidationError as exc:
        raise ValidationError(_nest(path, exc.messages)) from exc


def _build_target(
    entry: dict[str, Any], providers: Mapping[str, ProviderEntry], path: list[Any]
) -> Target:
    if entry["provider"] not in providers:
        known = ", ".join(sorted(providers))
        message = f"unknown provider {entry['provider']!r} (known: {known})"
        raise ValidationError(_nest([*path, "provider"], [message]))

    price = entry.get("price")
    return Target(
        provider=entry["provider"],
        model=entry["model"],
        weight=entry.get("weight", 1.0),
        price=PriceOverride(**price) if price else None,
        context_window=entry.get("context_window"),
        max_output_tokens=entry.get("max_output_tokens"),
    )


def _nest(path: list[Any], messages: Any) -> Any:
    for part in reversed(path):
        messages = {part: messages}

    return messages


def _demo_provider() -> ProviderEntry:
    return ProviderEntry(Endpoint("demo", "demo", DEMO_BASE_URL), None)


# The demo model is priced like gpt-4o-mini so its cost figures look like real ones.
DEMO_PRICE = PriceOverride(
    input_per_mtok=0.15, output_per_mtok=0.60, cached_input_per_mtok=0.075
)


def demo_route(name: str) -> Route:
    return Route(name, ((Target("demo", "demo", price=DEMO_PRICE),),))


def default_config(environ: Mapping[str, str]) -> GatewayConfig:
    """Enable each known provider whose key variable is set, plus ``demo``.

    Models are reachable by their provider's id (``gpt-4o-mini``) and as
    ``provider/model-id``; ``fast`` and ``smart`` point at the best enabled provider,
    or at ``demo`` when none is.
    """
    providers = {"demo": _demo_provider()}
    routes: dict[str, Route] = {}
    for name, known in KNOWN_PROVIDERS.items():
        if not _is_enabled(known, environ):
            continue
        base_url = environ.get(known.base_url_env or "", "") or known.base_url
        api_key = environ.get(known.key_env) if known.key_env else None
        endpoint = Endpoint(name, known.type, base_url, api_key)
        providers[name] = ProviderEntry(endpoint, known.pricing_provider)
        for model in known.models:
            target = (Target(name, model),)
            routes.setdefault(f"{name}/{model}", Route(f"{name}/{model}", (target,)))
            if name in ("openai", "anthropic"):
                routes.setdefault(model, Route(model, (target,)))

    routes["demo"] = demo_route("demo")
    routes.update(_default_aliases(providers))
    open_models = tuple(name for name in providers if name != "demo")
    return GatewayConfig(providers, routes, "environment", open_models)


def _is_enabled(known: Any, environ: Mapping[str, str]) -> bool:
    if known.key_env:
        return bool(environ.get(known.key_env))

    return bool(environ.get(known.base_url_env or ""))


def _default_aliases(providers: Mapping[str, ProviderEntry]) -> dict[str, Route]:
    choices = {
        "openai": ("gpt-4o-mini", "gpt-4o"),
        "anthropic": ("claude-haiku-4-5", "claude-sonnet-4-5"),
        "gemini": ("gemini-2.5-flash", "gemini-2.5-pro"),
    }
    for provider, (fast, smart) in choices.items():
        if provider in providers:
            return {
                "fast": Route("fast", ((Target(provider, fast),),)),
                "smart": Route("smart", ((Target(provider, smart),),)),
            }

    return {"fast": demo_route("fast"), "smart": demo_route("smart")}


def _first_error(messages: Any, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """Flatten marshmallow's nested messages to (dotted place, first problem)."""
    if isinstance(messages, list):
        if messages and not isinstance(messages[0], (dict, list)):
            return ".".join(path) or "(top level)", str(messages[0])
        return _first_error(messages[0], path) if messages else (".".join(path), "")
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        if key == "value":
            return _first_error(value, path)
        if key == "_schema":
            return _first_error(value, path)
        return _first_error(value, (*path, str(key)))

    return ".".join(path) or "(top level)", str(messages)


def _locate(text: str, place: str) -> str:
    """`` (line L, column C)`` of the YAML node at the dotted ``place``, if found."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ""

    for part in place.split(".") if place and place != "(top level)" else []:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if str(k.value) == part]
            if not found:
                return f" (line {node.start_mark.line + 1})"
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit():
            node = node.value[int(part)]
        else:
            break

    if node is None:
        return ""

    return f" (line {node.start_mark.line + 1}, column {node.start_mark.column + 1})"
