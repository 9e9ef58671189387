"""What every command shares: exit codes, and running an action so that known errors become
a message and an exit code (a traceback only with --debug)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from tunevsprompt.errors import RunError, SuiteError

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


def fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def run_guarded(debug: bool, action: Callable[[], None]) -> None:
    """Run an action; known errors become messages and exit codes (tracebacks with --debug)."""
    from tunevsprompt.decide.gate import GateUsageError
    from tunevsprompt.generation.errors import GeneratorError
    from tunevsprompt.runfolder.read import RunFolderError
    from tunevsprompt.runfolder.store import FolderNotWritable

    try:
        action()
    except SuiteError as exc:
        fail(f"error: the suite is invalid\n{exc}", EXIT_USAGE)
    except (RunFolderError, GateUsageError, FolderNotWritable) as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    except click.UsageError as exc:
        fail(f"error: {exc.message}", EXIT_USAGE)
    except (RunError, GeneratorError) as exc:
        if debug:
            traceback.print_exc()
        fail(f"error: {exc}", EXIT_RUNTIME)
    except KeyboardInterrupt:
        fail("interrupted: finished examples are cached; run the same command again to resume", 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        fail(
            f"error: unexpected failure: {type(exc).__name__}: {exc} "
            "(rerun with --debug for a traceback)",
            EXIT_RUNTIME,
        )


def csv_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one arm name, e.g. --arms zero-shot,few-shot")
    return names


def device_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from tunevsprompt.suite.strict import check_device

    if value is None:
        return None
    try:
        return check_device(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def apply_gates(run_dir: Path, results: dict[str, Any], gates: Any, junit: Path | None) -> None:
    """Evaluate, publish (JUnit, GitHub step summary), print, and exit 1 on failure."""
    from tunevsprompt.decide.gate import evaluate_gates, publish

    outcome = evaluate_gates(results, gates)
    publish(outcome, results, junit or run_dir / "junit.xml")
    for result in outcome.results:
        click.echo(
            f"gate {result.name} [{outcome.arm or '-'}]: {result.status.upper()}: {result.message}"
        )
    if not outcome.passed:
        fail(
            f"gates FAILED ({outcome.failures} failed, {outcome.errors} could not be evaluated)",
            EXIT_GATE,
        )
    click.echo("gates passed")
