"""`python -m training voice ...`: train, export and evaluate envelope models of the FM voice.

train     one patch of a bank: data, training, float/int8 export, held-out evaluation
ship      every patch of a bank in turn; bundles that reach the goal go to the bundles folder
evaluate  a voice bundle on the held-out phrases (no TensorFlow)
"""

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.dx7 import Patch, read_syx
from firmware.errors import HitarError
from firmware.layout import SAMPLE_RATE_HZ
from firmware.note_tracker import NoteConfig
from firmware.pitch import PitchConfig
from firmware.voice import EnvelopeModel, bundle_folder
from training.voice.dataset import VoiceInputs, cached_inputs
from training.voice.loss import render_weights
from training.voice.phrases import PhraseConfig

log = logging.getLogger(__name__)

CACHE_DIR = Path("build") / "voice-cache"
DEFAULT_BANK = Path("firmware/patches/hitar.syx")
SHIPPED_RULE = "deploy/bundles/voice-{slot}-{name}"


@dataclass(frozen=True)
class DataConfig:
    """How many phrases each split holds, and their fixed seeds (the splits never overlap)."""

    train_phrases: int = 600
    validation_phrases: int = 64
    test_phrases: int = 100
    train_seed: int = 0
    validation_seed: int = 1
    test_seed: int = 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    training = argv[:1] in (["train"], ["ship"])  # only they import TensorFlow
    parser = argparse.ArgumentParser(prog="python -m training voice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train and export the model of one patch")
    _bank_arguments(train)
    train.add_argument("--patch", type=int, required=True, help="slot in the bank, 1..32")
    train.add_argument("--out", type=Path, required=True, help="run folder (report, plots)")
    train.add_argument("--bundle", type=Path, help="bundle folder (default: RUN/bundle)")
    train.add_argument(
        "--start-from", type=Path, help="sequence_model.keras of another run to fine-tune"
    )
    if training:
        _training_arguments(train)
    ship = commands.add_parser("ship", help="train every patch; ship those reaching the goal")
    _bank_arguments(ship)
    ship.add_argument("--patches", type=int, nargs="+", help="slots (default: all named)")
    ship.add_argument("--out", type=Path, required=True, help="folder of the runs")
    ship.add_argument("--bundles", default=SHIPPED_RULE, help="bundle folder rule ({slot}, {name})")
    ship.add_argument(
        "--start-from", type=Path,
        help="sequence_model.keras the first slot fine-tunes (default: from scratch); each "
        "later slot fine-tunes the slot trained before it",
    )  # fmt: skip
    if training:
        _training_arguments(ship)
    evaluate = commands.add_parser("evaluate", help="evaluate a bundle on held-out phrases")
    _bank_arguments(evaluate)
    evaluate.add_argument("--patch", type=int, required=True)
    evaluate.add_argument("--bundle", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "train":
            bundle = args.bundle or args.out / "bundle"
            report = train_patch(args, args.patch, args.out, bundle, args.start_from)
            log.info("%s", _summary_line(report))
        elif args.command == "ship":
            _ship(args)
        else:
            _evaluate(args)
    except HitarError as error:
        log.error("error: %s", error)
        return 2
    return 0


def _bank_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK, help="DX7 .syx bank")


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    from training.voice.loss import LOSSES
    from training.voice.train import TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--max-minutes", type=float, default=defaults.max_minutes)
    parser.add_argument("--state-size", type=int, default=defaults.state_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--loss", choices=LOSSES, default=defaults.loss)
    parser.add_argument("--train-phrases", type=int, default=DataConfig().train_phrases)
    parser.add_argument(
        "--quantization", choices=("auto", "float", "int8"), default="auto",
        help="auto: int8 only if it keeps the quality (see deploy/voice.py)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def load_patch(bank: Path, slot: int) -> Patch:
    patches = read_syx(bank)
    if not 1 <= slot <= len(patches):
        raise HitarError(f"{bank}: no slot {slot} (it holds {len(patches)} voice(s))")
    return patches[slot - 1]


def splits(
    data: DataConfig,
    pitch: PitchConfig,
    phrases: PhraseConfig,
    notes: NoteConfig,
    progress: bool,
) -> dict[str, VoiceInputs]:
    """Train, validation and test inputs (tracked once, cached under build/voice-cache)."""
    sizes = {name: getattr(data, f"{name}_phrases") for name in ("train", "validation", "test")}
    seeds = {name: getattr(data, f"{name}_seed") for name in sizes}
    return {
        name: cached_inputs(
            size, seeds[name], phrases, pitch, notes, SAMPLE_RATE_HZ, CACHE_DIR, progress
        )
        for name, size in sizes.items()
    }


def held_out(pitch: PitchConfig, notes: NoteConfig, progress: bool = True) -> VoiceInputs:
    """The test split alone (what evaluate and bench/voice.py score bundles on)."""
    data = DataConfig()
    return cached_inputs(
        data.test_phrases, data.test_seed, PhraseConfig(), pitch, notes, SAMPLE_RATE_HZ,
        CACHE_DIR, progress,
    )  # fmt: skip


def train_patch(
    args: argparse.Namespace,
    slot: int,
    out: Path,
    bundle_path: Path,
    start_from: Path | None = None,
) -> dict:
    """Train (from scratch, or fine-tuning start_from), export and evaluate one patch;
    writes the run folder and the bundle."""
    from deploy.voice import export_voice_bundle, voice_manifest
    from training.voice.train import TrainConfig, train_envelope_model

    started = time.monotonic()
    patch = load_patch(args.bank, slot)
    pitch, notes, phrases = PitchConfig(), NoteConfig(), PhraseConfig()
    data_config = dataclasses.replace(DataConfig(), train_phrases=args.train_phrases)
    config = TrainConfig(
        state_size=args.state_size, epochs=args.epochs, max_minutes=args.max_minutes,
        seed=args.seed, learning_rate=args.learning_rate, loss=args.loss,
    )  # fmt: skip
    log.info("patch %d '%s' from %s -> %s", slot, patch.display_name, args.bank, bundle_path)
    data = splits(data_config, pitch, phrases, notes, progress=not args.quiet)
    frame_rate_hz = SAMPLE_RATE_HZ / pitch.hop_samples
    targets = {name: split.targets(patch, frame_rate_hz) for name, split in data.items()}
    weights = {name: render_weights(patch, levels) for name, levels in targets.items()}
    prepared_s = time.monotonic() - started
    result = train_envelope_model(
        data["train"], targets["train"], data["validation"], targets["validation"],
        config, progress=not args.quiet, start_from=start_from,
        train_weights=weights["train"], validation_weights=weights["validation"],
    )  # fmt: skip
    trained_s = time.monotonic() - started - prepared_s
    summary = {
        "source": "synthetic phrases (training.voice.phrases) tracked by firmware.pitch.track",
        "phrases": dataclasses.asdict(phrases),
        "data": dataclasses.asdict(data_config),
        "hops": {name: int(split.inputs.shape[0]) for name, split in data.items()},
        "train": dataclasses.asdict(config),
        "parameters": int(result.model.count_params()),
        "epochs_run": len(result.history["train_loss"]),
        "best_epoch": result.best_epoch + 1,
        "best_validation_loss": float(min(result.history["val_loss"])),
        "best_validation_l1": float(result.history["val_l1"][result.best_epoch]),
        "training_seconds": trained_s,
        "started_from": str(start_from) if start_from else None,
    }
    manifest = voice_manifest(
        patch, slot, args.bank, pitch, notes, phrases, config.state_size, SAMPLE_RATE_HZ
    )
    bundle, metrics = export_voice_bundle(
        result.model, manifest, patch, data["test"], targets["test"], data["train"],
        bundle_path, summary, args.quantization,
    )  # fmt: skip
    report = {
        "slot": slot,
        "patch": patch.display_name,
        "bundle": str(bundle.path),
        "seconds": {"data": prepared_s, "training": trained_s, "total": time.monotonic() - started},
        "training": summary,
        "metrics": metrics,
    }
    _write_run(out, result, report, data["test"], targets["test"], bundle.path, patch)
    return report


def _write_run(
    out: Path,
    result: Any,
    report: dict,
    test: VoiceInputs,
    test_targets: np.ndarray,
    bundle_path: Path,
    patch: Patch,
) -> None:
    from training.voice.plots import plot_envelopes, plot_history

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "history.json").write_text(json.dumps(result.history) + "\n")
    result.model.save(out / "sequence_model.keras")
    plot_history(result.history, out / "history.png")
    model = EnvelopeModel(bundle_path, SAMPLE_RATE_HZ, patch)
    longest = int(np.argmax(test.lengths))
    rows = test.rows(longest)
    plot_envelopes(
        test.inputs[rows], test_targets[rows], model.run(test.f0_hz[rows], test.loudness[rows]),
        SAMPLE_RATE_HZ / model.pitch_config.hop_samples, out / "envelopes.png",
    )  # fmt: skip


def _summary_line(report: dict) -> str:
    metrics = report["metrics"]
    shipped = metrics[metrics["shipped"]]
    snr = {name: f"{s['snr_db']:.1f}" for name, s in shipped["segments"].items()}
    return (
        f"slot {report['slot']} '{report['patch']}': {metrics['shipped']}, L1 {shipped['l1']:.2e}"
        f", SNR dB onset {snr['onset']} / middle {snr['middle']} / end {snr['end']}"
        f" ({metrics['reason']}); {report['seconds']['total']:.0f} s"
    )


def _ship(args: argparse.Namespace) -> None:
    """Train each slot into OUT/slot-N, each fine-tuning the one before; copy the bundles that
    reach the goal into place."""
    from deploy.voice import GOAL_MIDDLE_SNR_DB

    patches = read_syx(args.bank)
    slots = args.patches or [i + 1 for i, p in enumerate(patches) if p.name != Patch().name]
    lines = []
    start_from = args.start_from
    for slot in slots:
        run = args.out / f"slot-{slot}"
        report = train_patch(args, slot, run, run / "bundle", start_from)
        start_from = run / "sequence_model.keras"
        metrics = report["metrics"]
        middle = metrics[metrics["shipped"]]["segments"]["middle"]["snr_db"]
        target = bundle_folder(args.bundles, slot, patches[slot - 1])
        if middle >= GOAL_MIDDLE_SNR_DB:
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(run / "bundle", target)
            verdict = f"shipped to {target}"
        else:
            verdict = f"NOT shipped: middle SNR under {GOAL_MIDDLE_SNR_DB} dB"
            if target.exists():
                # What ships must be what this command reproduces: an older bundle of the
                # slot was trained by other code and may not even load with this firmware.
                shutil.rmtree(target)
                verdict += f"; removed the older {target}"
        lines.append(f"{_summary_line(report)}; {verdict}")
        log.info("%s", lines[-1])
    (args.out / "ship.txt").write_text("\n".join(lines) + "\n")


def _evaluate(args: argparse.Namespace) -> None:
    from training.voice.evaluate import evaluate

    patch = load_patch(args.bank, args.patch)
    model = EnvelopeModel(args.bundle, SAMPLE_RATE_HZ, patch)
    test = held_out(model.pitch_config, model.note_config)
    hop = model.pitch_config.hop_samples
    targets = test.targets(patch, SAMPLE_RATE_HZ / hop)
    print(json.dumps(evaluate(model, patch, test, targets, SAMPLE_RATE_HZ, hop), indent=2))


if __name__ == "__main__":
    sys.exit(main())
