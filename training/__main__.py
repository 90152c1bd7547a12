"""`python -m training COMMAND ...`: the workstation's entry point.

Each command's own `--help` tells the rest. Commands import TensorFlow only when they train.
"""

import importlib
import sys

from training.resources import keep_freed_memory

COMMANDS = {
    "simulate": ("training.simulator.__main__", "simulated recordings with ground truth"),
    "data": ("training.data.__main__", "build and summarise datasets from recordings"),
    "hits": ("training.hits.cli", "train, evaluate and export hit models"),
    "voice": ("training.voice.cli", "train, export and evaluate the FM voice's envelope models"),
}


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print(__doc__.strip())
        known = "\n".join(f"  {name:<10} {about}" for name, (_, about) in COMMANDS.items())
        print(f"\ncommands:\n{known}")
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return module.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
