"""The cost model. Per arm: a one-time cost (training, index build), a cost per 1,000 requests
(measured compute-seconds per request priced by the hour for local models; tokens priced per
million for hosted ones), and a monthly total at each volume. Per pair of arms: the monthly
volume above which one becomes cheaper than the other."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

from tunevsprompt.decide.config import ApiPrice, PricingConfig
from tunevsprompt.decide.prices import api_token_price, device_hourly_usd
from tunevsprompt.errors import RunError

SECONDS_PER_HOUR = 3600.0


def _sig(value: float) -> float:
    """Eight significant digits: cents are too coarse for a fraction of a second's compute."""
    return float(f"{value:.8g}")


def _one_time(
    record: dict[str, Any], manifest: dict[str, Any], pricing: PricingConfig
) -> dict[str, Any]:
    """A prompt search's time, training time on the training device, or embedding and index
    build time for the retrieval index, else the arm's measured preparation time."""
    gpu_name = manifest.get("device_name")
    training = record.get("training")
    retrieval = record.get("retrieval")
    search = record.get("search") or {}
    spent = search.get("spent") or {}
    extra: dict[str, Any] = {}
    if spent.get("seconds") is not None:
        # A prompt search: its model calls on the arm's device (a resumed search counts the
        # seconds of the runs that computed it), and a hosted proposer's API dollars.
        seconds, device, what = float(spent["seconds"]), manifest.get("device"), "prompt search"
        extra = _hosted_proposer(search, pricing)
    elif training and training.get("wall_s") is not None:
        seconds, device, what = float(training["wall_s"]), training.get("device"), "training"
    elif retrieval and retrieval.get("index_build_s") is not None:
        seconds = float(retrieval.get("embed_s") or 0.0) + float(retrieval["index_build_s"])
        device, what = (retrieval.get("embedder") or {}).get("device"), "embedding + index build"
    else:
        seconds, device, what = (
            float(record.get("prepare_s") or 0.0),
            manifest.get("device"),
            "preparation",
        )
    hourly = device_hourly_usd(pricing, device, gpu_name)
    usd = seconds / SECONDS_PER_HOUR * hourly.usd_per_hour + (extra.get("proposer_usd") or 0.0)
    return {
        "what": what,
        "seconds": _sig(seconds),
        "device": device or "cpu",
        "priced_as": hourly.priced_as,
        "usd_per_hour": hourly.usd_per_hour,
        "usd": usd,
        **extra,
    }


def _hosted_proposer(search: dict[str, Any], pricing: PricingConfig) -> dict[str, Any]:
    """A hosted proposer's API dollars for the tokens it read and wrote (none for the suite's
    own model, whose calls are in the search's seconds). An unknown price is said, not
    guessed: the one-time cost is then the compute alone."""
    proposer = search.get("proposer") or {}
    if proposer.get("backend") != "openai":
        return {}
    tokens = (search.get("spent") or {}).get("proposer_tokens") or {}
    try:
        price = api_token_price(pricing, str(proposer.get("model")), proposer.get("provider"))
    except RunError as exc:
        return {"proposer_usd": None, "proposer_note": str(exc)}
    usd = token_usd(price.price, float(tokens.get("input") or 0), float(tokens.get("output") or 0))
    return {"proposer_usd": usd, "proposer_price_source": price.source}


def token_usd(price: ApiPrice, input_tokens: float, output_tokens: float) -> float:
    """What an API charges for these tokens."""
    return (
        input_tokens * price.input_usd_per_mtok + output_tokens * price.output_usd_per_mtok
    ) / 1e6


def _per_request(
    record: dict[str, Any], manifest: dict[str, Any], pricing: PricingConfig
) -> dict[str, Any]:
    """USD per request: hosted models by their token counts, local ones by measured
    compute-seconds per request (batched test throughput) over the serving utilisation."""
    api = record.get("api")
    tokens = record.get("tokens") or {}
    if api:
        tokens_in, tokens_out = (
            float(tokens.get("input_mean") or 0),
            float(tokens.get("output_mean") or 0),
        )
        basis = {
            "kind": "api-tokens",
            "model": api["model"],
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }
        try:
            price = api_token_price(pricing, str(api["model"]), api.get("provider"))
        except RunError as exc:
            # A self-hosted or unlisted model: the cost is unknown (never read as cheaper),
            # and the basis says how to give it a price.
            return {**basis, "price_source": None, "note": str(exc), "usd": None}
        usd = token_usd(price.price, tokens_in, tokens_out)
        return {
            **basis,
            "input_usd_per_mtok": price.price.input_usd_per_mtok,
            "output_usd_per_mtok": price.price.output_usd_per_mtok,
            "price_source": price.source,
            "usd": usd,
        }
    throughput = record.get("throughput_eps")
    # An arm that runs no LLM (an embedding baseline) says where its own model ran.
    device = record.get("compute_device") or manifest.get("device")
    gpu_name = manifest.get("device_name") if device == manifest.get("device") else None
    hourly = device_hourly_usd(pricing, device, gpu_name)
    seconds = 1.0 / float(throughput) if throughput else None
    return {
        "kind": "local-compute",
        "device": device or "cpu",
        "priced_as": hourly.priced_as,
        "usd_per_hour": hourly.usd_per_hour,
        "compute_s_per_request": _sig(seconds) if seconds is not None else None,
        "utilisation": pricing.utilisation,
        "usd": None
        if seconds is None
        else seconds / pricing.utilisation / SECONDS_PER_HOUR * hourly.usd_per_hour,
    }


def monthly_usd(one_time_usd: float, per_1k_usd: float, months: float, requests: float) -> float:
    """One month's share of the one-time cost plus the month's requests."""
    return one_time_usd / months + requests / 1000.0 * per_1k_usd


def arm_cost(
    record: dict[str, Any], manifest: dict[str, Any], pricing: PricingConfig, volume: int
) -> dict[str, Any]:
    """``arms.<name>.cost``: one-time, per 1,000 requests, monthly at the decision volume
    (and at every priced volume), with the figures they came from."""
    one_time = _one_time(record, manifest, pricing)
    per_request = _per_request(record, manifest, pricing)
    per_1k = None if per_request["usd"] is None else float(per_request["usd"]) * 1000.0
    months = pricing.amortise_months

    def monthly(requests: int) -> float | None:
        return (
            None if per_1k is None else _sig(monthly_usd(one_time["usd"], per_1k, months, requests))
        )

    return {
        "one_time_usd": _sig(one_time["usd"]),
        "per_1k_requests_usd": None if per_1k is None else _sig(per_1k),
        "monthly_usd": monthly(volume),
        "volume": volume,
        "monthly_by_volume": {str(v): monthly(v) for v in pricing.monthly_requests},
        "basis": {"one_time": one_time, "per_request": per_request, "amortise_months": months},
    }


def break_even(costs: Mapping[str, dict[str, Any]], months: float) -> list[dict[str, Any]]:
    """Per pair: the monthly volume where their monthly totals cross, null when they never do
    (one is cheaper at every volume, or they cost the same)."""
    entries = []
    for a, b in combinations(list(costs), 2):
        ca, cb = costs[a], costs[b]
        entry: dict[str, Any] = {
            "arms": [a, b],
            "volume": None,
            "cheaper_below": None,
            "cheaper_above": None,
        }
        if ca["per_1k_requests_usd"] is None or cb["per_1k_requests_usd"] is None:
            entry["note"] = "a per-request cost is unknown"
            entries.append(entry)
            continue
        fixed_a, fixed_b = ca["one_time_usd"] / months, cb["one_time_usd"] / months
        rate_a, rate_b = ca["per_1k_requests_usd"] / 1000.0, cb["per_1k_requests_usd"] / 1000.0
        if rate_a != rate_b:
            crossing = (fixed_b - fixed_a) / (rate_a - rate_b)
            if crossing > 0:
                cheap_rate, cheap_fixed = (a, b) if rate_a < rate_b else (b, a)
                entry.update(
                    volume=round(crossing, 1), cheaper_below=cheap_fixed, cheaper_above=cheap_rate
                )
                entries.append(entry)
                continue
        cheaper = a if (fixed_a, rate_a) <= (fixed_b, rate_b) else b
        if (fixed_a, rate_a) == (fixed_b, rate_b):
            entry["note"] = "same cost at every volume"
        else:
            entry["cheaper_always"] = cheaper
        entries.append(entry)
    return entries
