"""The flags of a cell magic, derived from a declaration of options.

``%%batchrun`` and ``%%calibrate`` declare their arguments with
:func:`option_flags` (MODEL, one flag per option a cell offers, then the
magic's own extras) and read their first line with :func:`parse_line`: the
line split as a shell splits it, every value read by its option's
:meth:`~mesa_nb.core.options.Option.from_text` (so the messages are the
option's own), a mistyped flag answered with the closest one.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ..core.errors import MesaNbError
from ..core.options import CELL, Option

MODEL_HELP = (
    "The Mesa model class: a name from the notebook or an importable path such "
    "as mesa_nb.examples.BoltzmannWealth."
)


def option_type(opt: Option) -> Callable[[str], Any]:
    """The argparse ``type`` of a flag: the option's own reader."""

    def read(text: str) -> Any:
        try:
            return opt.from_text(text)
        except MesaNbError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    read.__name__ = opt.name
    return read


def flag_argument(opt: Option) -> Callable[[Any], Any]:
    """The ``argument`` decorator of one option's flag (absent unless given)."""
    names = [n for n in (opt.short, opt.flag) if n]
    common = {
        "dest": opt.name,
        "default": argparse.SUPPRESS,
        "help": opt.help.replace("%", "%%"),  # argparse formats help
    }
    if opt.kind == "flag":
        return argument(*names, action="store_const", const=not opt.inverted, **common)
    return argument(*names, type=option_type(opt), **common)


def option_flags(
    options: Iterable[Option], extra: Sequence[Callable[[Any], Any]] = ()
) -> Callable[[Any], Any]:
    """A decorator declaring a magic's arguments: MODEL, a flag for each of
    ``options`` a cell offers (in order), then ``extra`` (``argument(...)``
    decorators, in order)."""
    offered = [o for o in options if o.offered(CELL)]

    def decorate(function: Any) -> Any:
        for add in reversed(extra):
            function = add(function)
        for opt in reversed(offered):
            function = flag_argument(opt)(function)
        function = argument("model", help=MODEL_HELP)(function)
        return magic_arguments()(function)

    return decorate


def parse_line(parser: argparse.ArgumentParser, line: str, magic: str) -> Any:
    """The arguments of ``line``, split as a shell splits them (so quoted
    paths with spaces work), or a UsageError naming what is wrong."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot read the options ({exc}): {line!r}.") from None
    try:
        return parser.parse_args(argv)
    except UsageError as exc:
        raise UsageError(suggest(parser, str(exc), magic)) from None
    except SystemExit:  # pragma: no cover - argparse's own exit
        raise UsageError(f"Bad options: {line!r}. See %%{magic}?") from None


def suggest(parser: argparse.ArgumentParser, message: str, magic: str) -> str:
    """An argparse complaint, with the options closest to a mistyped one."""
    if "unrecognized arguments:" not in message:
        return message
    known = [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    typed = message.split("unrecognized arguments:")[1].split()
    hints = []
    for word in typed:
        close = difflib.get_close_matches(word.split("=")[0], known, n=1)
        if close:
            hints.append(f"{word}: did you mean {close[0]}?")
    return message + (" " + " ".join(hints) if hints else "") + f" See %{magic}?"


__all__ = ["flag_argument", "option_flags", "option_type", "parse_line", "suggest"]
