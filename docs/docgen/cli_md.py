"""The click command tree rendered as markdown: usage, help, arguments and options of every
command, taken from the commands themselves (the same text ``--help`` prints)."""

from __future__ import annotations

import inspect

import click

from docgen.schema_md import cell, code, escape


def help_text(text: str | None) -> str:
    """A command's help as markdown: click's ``\\f`` cut honoured, ``\\b`` blocks kept as
    they are written (as a code block), other paragraphs left to markdown to wrap."""
    if not text:
        return ""
    text = inspect.cleandoc(text.split("\f", 1)[0])
    out: list[str] = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("\b\n"):
            out.append("```\n" + paragraph[2:] + "\n```")
        else:
            out.append(escape(paragraph))
    return "\n\n".join(out)


def _anchor(ctx: click.Context) -> str:
    return ctx.command_path.replace(" ", "-").replace("_", "-")


def _argument_row(argument: click.Argument, ctx: click.Context) -> str:
    kind = argument.type.get_metavar(param=argument, ctx=ctx) or argument.type.name
    notes = ["required" if argument.required else "optional"]
    if argument.nargs != 1:
        notes.append("any number" if argument.nargs == -1 else f"{argument.nargs} values")
    metavar = argument.make_metavar(ctx)
    return f"| {code(metavar)} | {cell(kind)} | {cell(', '.join(notes))} |"


def _option_row(option: click.Option, ctx: click.Context) -> str | None:
    record = option.get_help_record(ctx)
    if record is None:
        return None
    names, description = record
    return f"| {code(names)} | {cell(description)} |"


def command_markdown(command: click.Command, ctx: click.Context, level: int = 2) -> str:
    """One command's section, then its subcommands' (for a group), each at ``level``."""
    title = ctx.command_path
    usage = " ".join([title, *command.collect_usage_pieces(ctx)])
    lines = [f"{'#' * level} {title} {{#{_anchor(ctx)}}}", "", "```", usage, "```", ""]
    body = help_text(command.help)
    if body:
        lines += [body, ""]
    arguments = [p for p in command.get_params(ctx) if isinstance(p, click.Argument)]
    if arguments:
        lines += ["| argument | type | notes |", "|---|---|---|"]
        lines += [_argument_row(argument, ctx) for argument in arguments]
        lines.append("")
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    rows = [row for row in (_option_row(option, ctx) for option in options) if row]
    if rows:
        lines += ["| option | description |", "|---|---|", *rows, ""]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
                lines.append(command_markdown(sub, sub_ctx, level))
    return "\n".join(lines)


def cli_markdown(group: click.Command, name: str, level: int = 2) -> str:
    """The whole tree under ``group``: the group first, then its commands in the order they
    were added to it (the order the CLI module lists them in)."""
    ctx = click.Context(group, info_name=name, **group.context_settings)
    return command_markdown(group, ctx, level)
