"""Read a suite's YAML safely: the document and the line of each key path, after refusing
what PyYAML would accept silently or take forever over: a key given twice in one mapping
(PyYAML keeps the last one), an alias inside the value it names, and a document that holds
more than ``MAX_YAML_VALUES`` values or ``MAX_YAML_CHARS`` characters once its aliases are
expanded (an alias bomb, "billion laughs"), counted on the node graph without expanding
anything."""

from __future__ import annotations

from typing import Any

import yaml

from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.suite.yaml_lines import KeyPath, format_key_path, index_lines

MAX_YAML_VALUES = 100_000
"""Values a suite file may hold once its aliases are expanded: real suites hold a few
hundred; an alias bomb ("billion laughs") holds billions in a few lines."""

MAX_YAML_CHARS = 10_000_000
"""Characters of text the same: a long string repeated through aliases is a bomb too."""


def parse_yaml(text: str, file: str) -> tuple[Any, dict[KeyPath, int]]:
    """The document and the line of each key path. Refuses what PyYAML would accept
    silently or take forever over: a key given twice in one mapping, an alias that contains
    itself, too many values once aliases are expanded."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        bound_expansion(node, file)
        problems = duplicate_keys(node, file)
        if problems:
            raise SuiteError(problems)
        raw = loader.construct_document(node)
        lines: dict[KeyPath, int] = {}
        index_lines(node, (), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError([SuiteProblem(file, "", f"not valid YAML: {problem}", line)]) from None
    except (ValueError, TypeError) as exc:
        raise SuiteError([SuiteProblem(file, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise SuiteError(
            [SuiteProblem(file, "", "not valid YAML: nested too deeply to read")]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return raw, lines


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def duplicate_keys(root: yaml.Node, file: str) -> list[SuiteProblem]:
    """A key written twice in one mapping (merge keys ``<<`` excepted), wherever it is
    (walked after ``bound_expansion``, so aliases cannot make the walk long)."""
    problems: dict[int, SuiteProblem] = {}
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                stack.append((value_node, loc))
                continue
            line = key_node.start_mark.line + 1
            where = (*loc, str(key_node.value))
            stack.append((value_node, where))
            key = (key_node.tag, key_node.value)  # 1 and "1" are two keys
            if key not in first:
                first[key] = line
                continue
            problems[line] = SuiteProblem(
                file,
                format_key_path(where),
                f"given twice in one mapping (first on line {first[key]}); YAML "
                "readers keep only one of the two",
                line,
                "delete one of them, or merge their settings",
            )
    return [problems[line] for line in sorted(problems)]


def bound_expansion(root: yaml.Node, file: str) -> None:
    """How many values, and how many characters of text, the document holds once every
    alias is expanded, counted without expanding (each node's counts are remembered); an
    alias inside itself is refused."""
    size: dict[int, int] = {}
    chars: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            chars[key] = (
                len(str(node.value))
                if isinstance(node, yaml.ScalarNode)
                else sum(chars[id(child)] for child in children)
            )
            if size[key] > MAX_YAML_VALUES or chars[key] > MAX_YAML_CHARS:
                what = (
                    f"more than {MAX_YAML_VALUES:,} values"
                    if size[key] > MAX_YAML_VALUES
                    else f"more than {MAX_YAML_CHARS:,} characters of text"
                )
                raise SuiteError(
                    [
                        SuiteProblem(
                            file,
                            "",
                            f"the file holds {what}, counting each alias (*name) as the "
                            "value it repeats: a suite needs a few hundred values",
                            node.start_mark.line + 1,
                            "write the values out, or reuse fewer anchors (&name)",
                        )
                    ]
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise SuiteError(
                [
                    SuiteProblem(
                        file,
                        "",
                        "an alias (*name) refers to a value that contains it",
                        node.start_mark.line + 1,
                        "a suite holds no self-referring values: write the value out",
                    )
                ]
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
