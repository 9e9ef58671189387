"""Where a hosted model lives: the suite's `openai:` defaults, the arm's own keys, and the
endpoint they resolve to. No network and no `openai` import here: config only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

from tunevsprompt.suite.strict import STRICT

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
NO_KEY = "not-needed"
"""What a local server without authentication (vLLM, `transformers serve`, llama.cpp) gets
as the key when the named environment variable is unset."""


class EndpointDefaults(BaseModel):
    """The suite's `openai:` block: defaults for every arm with `backend: openai`."""

    model_config = STRICT
    base_url: str = Field(
        "https://api.openai.com/v1",
        description="OpenAI-compatible API root (vLLM, `transformers serve`, llama.cpp, a "
        "gateway), e.g. http://127.0.0.1:8000/v1.",
    )
    model: str | None = Field(None, description="Model name the endpoint serves.")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (the key itself is "
        "never written in the suite). Unset is allowed for servers on this machine.",
    )
    provider: str | None = Field(
        None,
        description="Provider id in the genai-prices table (e.g. openai), when the model name "
        "alone is ambiguous. Prices in the suite's pricing.api win over the table.",
    )
    concurrency: int = Field(
        8, ge=1, description="Requests in flight at once against one base_url (all arms)."
    )
    timeout_s: float = Field(60.0, gt=0, description="Seconds before one request times out.")
    max_retries: int = Field(
        4,
        ge=0,
        description="Retries of a failed request by the openai client (exponential backoff, "
        "honouring Retry-After), on 408/409/429/5xx, timeouts and connection errors.",
    )
    context_window: int | None = Field(
        None, ge=1, description="The model's context window in tokens, when RAG must fit it."
    )


def is_hosted(config: object) -> bool:
    """Whether an arm's model answers from an OpenAI-compatible endpoint (not this process)."""
    return isinstance(config, HostedArmKeys) and config.backend == "openai"


class HostedArmKeys(BaseModel):
    """Keys any prompting or RAG arm has for choosing where its model runs."""

    model_config = STRICT
    backend: Literal["local", "openai"] = Field(
        "local",
        description="local: the suite's model, run in this process; openai: a model behind an "
        "OpenAI-compatible chat-completions endpoint (the suite's `openai:` block, these keys "
        "override it).",
    )
    model: str | None = Field(None, description="backend: openai: the served model's name.")
    base_url: str | None = Field(None, description="backend: openai: the API root.")
    api_key_env: str | None = Field(
        None, description="backend: openai: the environment variable holding the key."
    )

    def hosted_key_problems(self) -> list[tuple[str, str]]:
        if self.backend == "local":
            return [
                (key, "is only used with backend: openai")
                for key in ("model", "base_url", "api_key_env")
                if getattr(self, key) is not None
            ]
        return []


@dataclass(frozen=True)
class Endpoint:
    """One arm's resolved endpoint."""

    base_url: str
    model: str
    api_key_env: str
    provider: str | None
    concurrency: int
    timeout_s: float
    max_retries: int
    context_window: int | None

    @property
    def public_url(self) -> str:
        return public_url(self.base_url)

    @property
    def is_local(self) -> bool:
        return (urlsplit(self.base_url).hostname or "") in LOCAL_HOSTS

    def api_key(self) -> str | None:
        """The key from the environment; a placeholder for a server on this machine; None
        when a remote endpoint has none (the caller says which variable to set)."""
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        return NO_KEY if self.is_local else None


def resolve_endpoint(defaults: EndpointDefaults | None, arm: HostedArmKeys) -> Endpoint | None:
    """The arm's endpoint (None when it runs locally, or when no model is named anywhere:
    the caller reports that as a config error)."""
    base = defaults or EndpointDefaults()
    model = arm.model or base.model
    if arm.backend != "openai" or model is None:
        return None
    return Endpoint(
        base_url=(arm.base_url or base.base_url).rstrip("/"),
        model=model,
        api_key_env=arm.api_key_env or base.api_key_env,
        provider=base.provider,
        concurrency=base.concurrency,
        timeout_s=base.timeout_s,
        max_retries=base.max_retries,
        context_window=base.context_window,
    )


def public_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced (error messages can echo request details)."""
    for secret in secrets:
        if secret and secret != NO_KEY and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
