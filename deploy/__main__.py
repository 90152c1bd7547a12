"""`python -m deploy COMMAND ...`: deployment commands, one module each.

A command module offers ``add_arguments(parser)`` and ``run(args) -> int``; only the chosen
command's module is imported, so that ``flash`` never loads what another command needs (for
example TensorFlow for an export).
"""

import argparse
import importlib
import sys

from firmware.errors import HitarError

COMMANDS: dict[str, tuple[str, str]] = {
    "flash": ("deploy.flash", "copy firmware, profiles and bundles to a board, restart it"),
    "export-hits": ("deploy.hits", "export a hit-model training run as an int8 bundle"),
}
"""Command name -> (module, one-line help)."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = commands.add_parser(name, help=help_text, description=help_text)
        if argv[:1] == [name]:
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(command_parser)
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args)
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
