"""Unit prices: an hour of the device an arm ran on, a million tokens of a hosted model."""

from __future__ import annotations

from dataclasses import dataclass

from tunevsprompt.decide.config import ApiPrice, PricingConfig
from tunevsprompt.errors import RunError


@dataclass(frozen=True)
class HourlyPrice:
    usd_per_hour: float
    priced_as: str  # "cpu", or the GPU table key that matched, e.g. "H100"


def device_hourly_usd(
    pricing: PricingConfig, device: str | None, gpu_name: str | None
) -> HourlyPrice:
    """CPU price for CPU runs; for CUDA, the GPU table's longest key found in the device's
    name (so `A100` wins over `A10`), else its `default` entry."""
    if not device or not device.startswith("cuda"):
        return HourlyPrice(pricing.cpu_usd_per_hour, "cpu")
    table = pricing.gpu_usd_per_hour
    name = (gpu_name or "").upper()
    for key in sorted((k for k in table if k != "default"), key=len, reverse=True):
        if key.upper() in name:
            return HourlyPrice(table[key], key)
    if "default" not in table:
        raise RunError(
            f"no GPU price for {gpu_name or device!r}: add its type or a `default` entry to "
            "pricing.gpu_usd_per_hour in the suite"
        )
    return HourlyPrice(table["default"], "default")


@dataclass(frozen=True)
class TokenPrice:
    price: ApiPrice
    source: str


def api_token_price(pricing: PricingConfig, model: str, provider: str | None) -> TokenPrice:
    """The suite's override for ``model``, else the genai-prices table (shipped with the
    package, read offline)."""
    if model in pricing.api:
        return TokenPrice(pricing.api[model], "suite pricing.api")
    from genai_prices import Usage, calc_price

    try:
        found = calc_price(
            Usage(input_tokens=1_000_000, output_tokens=1_000_000),
            model_ref=model,
            provider_id=provider,
        )
    except LookupError as exc:
        raise RunError(
            f"no price known for model {model!r}: add pricing.api.{model} with "
            "input_usd_per_mtok and output_usd_per_mtok to the suite"
        ) from exc
    return TokenPrice(
        ApiPrice(
            input_usd_per_mtok=float(found.input_price),
            output_usd_per_mtok=float(found.output_price),
        ),
        f"genai-prices ({found.provider.id} {found.model.id})",
    )
