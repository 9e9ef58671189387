"""An arm's model behind an OpenAI-compatible endpoint: resolved from the suite's `openai:`
block and the arm's keys, wrapped in the run's prediction cache, and reported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tunevsprompt.generation.endpoint import (
    Endpoint,
    EndpointDefaults,
    HostedArmKeys,
    resolve_endpoint,
)

if TYPE_CHECKING:
    from tunevsprompt.generation.base import Generator
    from tunevsprompt.generation.hosted import HostedGenerator


class HostingContext(Protocol):
    """What opening an endpoint needs of the run (``RunContext`` has it)."""

    @property
    def config_error(self) -> Callable[[str, str, str | None], Exception]: ...

    @property
    def cached(self) -> Callable[[Generator], Generator]: ...


@dataclass
class HostedModel:
    """The raw client (for its request counts) and the cached generator arms call."""

    endpoint: Endpoint
    client: HostedGenerator
    generator: Generator

    def record(self) -> dict[str, Any]:
        """``arms.<name>.api``: never the key, never the URL's credentials or query."""
        return {
            "base_url": self.endpoint.public_url,
            "model": self.endpoint.model,
            "provider": self.endpoint.provider,
            "api_key_env": self.endpoint.api_key_env,
            "concurrency": self.endpoint.concurrency,
            "timeout_s": self.endpoint.timeout_s,
            "max_retries": self.endpoint.max_retries,
            **self.client.log.record(),
        }


def open_hosted(
    keys: HostedArmKeys, defaults: EndpointDefaults | None, ctx: HostingContext
) -> HostedModel:
    """The arm's endpoint, or a config error naming the key to set."""
    from tunevsprompt.generation.hosted import HostedGenerator

    endpoint = resolve_endpoint(defaults, keys)
    if endpoint is None:
        raise ctx.config_error(
            "model",
            "backend: openai needs a model name",
            "set `model` on the arm or in the suite's `openai:` block",
        )
    key = endpoint.api_key()
    if key is None:
        raise ctx.config_error(
            "api_key_env",
            f"the environment variable {endpoint.api_key_env} is not set, and "
            f"{endpoint.public_url} is not on this machine",
            f"export {endpoint.api_key_env}=..., or name another variable in api_key_env",
        )
    client = HostedGenerator(endpoint, key)
    return HostedModel(endpoint, client, ctx.cached(client))
