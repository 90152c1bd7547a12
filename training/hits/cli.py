"""`python -m training hits ...`: train, evaluate, cross-validate and export hit models.

train     train a model (--model cnn|vae) on a sessions folder, a corpus folder or a saved
          .npz; write config, history, metrics, plots, the Keras model and an int8 bundle
evaluate  score a bundle on labelled hits through the firmware's features and interpreter
crossval  leave-one-group-out: train and score one model per held-out session/kit/player
calibrate fit a bundle to one player from a few labelled hits of theirs (a calibrated copy)
default   rebuild the shipped default model from the simulator: simulate, train, export

A problem with the input (labels, audio, too few examples, a bad option) prints one line
naming the file or field and exits with status 2, before any training.
"""

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError, HitarError
from firmware.features import FeatureConfig
from training.data.dataset import HitDataset

log = logging.getLogger(__name__)
GUITAR_TASKS = ("hand", "location")
SPLIT_FRACTION = 0.2
"""Share of hits (in whole groups) held out for test, then of the rest for validation."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.run(args)
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training hits", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model on labelled hits, export it")
    _data_arguments(train)
    train.add_argument("--out", type=Path, required=True, help="run folder to write")
    train.add_argument("--bundle", type=Path, help="bundle folder (default: RUN/bundle)")
    train.add_argument("--group", help="grouping key to split by (default: session, kit, ...)")
    train.add_argument(
        "--float-fallback",
        action="store_true",
        help="where int8 scores more than 1 point of macro-F1 below float on a task of the "
        "held-out hits, ship float",
    )
    _extra_train_argument(train)
    _training_arguments(train)
    train.add_argument(
        "--distribute",
        action="store_true",
        help="train with tf.distribute.MirroredStrategy over all GPUs",
    )
    train.add_argument(
        "--cpu-replicas",
        type=int,
        default=0,
        help="with --distribute: mirror over this many logical CPU devices instead of GPUs",
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a bundle on labelled hits")
    evaluate.add_argument("--model", type=Path, required=True, help="bundle folder")
    _data_arguments(evaluate)
    evaluate.add_argument("--report", type=Path, required=True, help="JSON report to write")
    evaluate.add_argument("--plots", type=Path, help="folder for confusion/embedding PNGs")
    evaluate.set_defaults(run=_evaluate)

    calibrate = commands.add_parser(
        "calibrate", help="calibrate a bundle to one player's labelled hits (writes a copy)"
    )
    calibrate.add_argument("--model", type=Path, required=True, help="bundle folder")
    _data_arguments(calibrate)
    calibrate.add_argument("--out", type=Path, required=True, help="calibrated bundle to write")
    calibrate.add_argument("--task", default="hand", help="task to calibrate (default: hand)")
    calibrate.add_argument("--report", type=Path, help="JSON report of what was fitted")
    calibrate.set_defaults(run=_calibrate)

    crossval = commands.add_parser("crossval", help="leave-one-group-out train and score")
    _data_arguments(crossval)
    crossval.add_argument("--report", type=Path, required=True, help="JSON report to write")
    crossval.add_argument("--group", help="grouping key (default: session, kit, ...)")
    crossval.add_argument(
        "--validation-fraction",
        type=float,
        default=SPLIT_FRACTION,
        help="share of the other groups' hits (whole groups) that early-stops each fold "
        f"(default {SPLIT_FRACTION}); 0: none, each model trains --epochs epochs on every "
        "other group and keeps its last weights",
    )
    _extra_train_argument(crossval)
    _training_arguments(crossval)
    crossval.set_defaults(run=_crossval)

    default = commands.add_parser(
        "default", help="rebuild the shipped default bundle from simulated data"
    )
    default.add_argument("--out", type=Path, required=True, help="run folder (report, plots)")
    default.add_argument("--bundle", type=Path, required=True, help="bundle folder to write")
    default.add_argument("--cache", type=Path, default=Path("build") / "sim-cache")
    default.add_argument("--epochs", type=int, default=None, help="override the default's")
    default.add_argument("--seed", type=int, default=0)
    default.set_defaults(run=_default)
    return parser


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="sessions folder, corpus folder or .npz"
    )
    parser.add_argument("--settings", type=Path, help="corpus build settings (TOML)")


def _extra_train_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-train",
        type=Path,
        nargs="+",
        help="more hits (folders or .npz files) to train on only, never validated or tested: "
        "e.g. the soundfonts' and the sample libraries' drum kits (python -m training.data "
        "soundfont-drums, library-drums)",
    )


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("cnn", "vae"), default="cnn", help="model family")
    parser.add_argument("--tasks", help="comma-separated tasks (default: all of the data's)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--balanced", action="store_true", help="class-balanced sampling")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    parser.add_argument(
        "--members", type=int, default=1, help="ensemble of this many seeds (exported as one)"
    )
    parser.add_argument(
        "--first-task-input",
        default="embedding",
        help="what the first task's softmax reads: 'embedding' (class regions in the 2-D "
        "plane) or 'trunk' (docs/HIT_MODELS.md)",
    )
    parser.add_argument(
        "--no-level-input",
        action="store_true",
        help="keep the removed level out of the trunk (for classes whose loudness differs "
        "between recordings, as between drum kits)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train on clean windows")
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="share of hits played at another speed each epoch, 2^+-1/6 octave around the "
        "onset: another drum of the same kind (0: never; the drum recipe uses 0.5)",
    )
    parser.add_argument("--loss", choices=("crossentropy", "focal"), default="crossentropy")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--dynamics-weight", type=float, default=0.5)
    parser.add_argument("--reconstruction-weight", type=float, default=1.0, help="VAE only")
    parser.add_argument("--kl-weight", type=float, default=0.05, help="VAE only")
    parser.add_argument("--min-hits", type=int, default=20, help="fewest hits per class")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_config(args: argparse.Namespace):
    """The TrainConfig the command-line options describe.

    Raises:
        ConfigError: an option out of range, named.
    """
    from training.data.augment import AugmentConfig
    from training.hits.losses import LossConfig
    from training.hits.model import CnnConfig, EncoderConfig
    from training.hits.train import TrainConfig
    from training.hits.vae import VaeConfig

    try:
        encoder = EncoderConfig(
            first_task_input=args.first_task_input, level_input=not args.no_level_input
        )
        return TrainConfig(
            family=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            patience=args.patience,
            seed=args.seed,
            augment=None if args.no_augment else AugmentConfig(speed_probability=args.speed),
            balanced=args.balanced,
            mixup_alpha=args.mixup,
            members=args.members,
            cnn=CnnConfig(encoder=encoder),
            vae=VaeConfig(encoder=encoder),
            losses=LossConfig(
                classification=args.loss,
                label_smoothing=args.label_smoothing,
                dynamics_weight=args.dynamics_weight,
                reconstruction_weight=args.reconstruction_weight,
                kl_weight=args.kl_weight,
            ),
        )
    except ValueError as error:
        raise ConfigError(f"command line: {error}") from None


def _extra_train(args: argparse.Namespace, tasks: tuple[str, ...]) -> HitDataset | None:
    """The --extra-train hits of every source, each checked to label every task (other class
    names stop at dataset.concatenate, before anything trains).

    Raises:
        DatasetError: a task unlabelled in a source, naming it.
    """
    import numpy as np

    from training.data.dataset import DatasetError, concatenate
    from training.hits.sources import load_dataset

    if not args.extra_train:
        return None
    sources = []
    for path in args.extra_train:
        extra, _ = load_dataset(path, args.settings)
        for task in tasks:
            if task not in extra.tasks or np.any(extra.labels[task] < 0):
                raise DatasetError(f"{path}: hits without a '{task}' label (--extra-train)")
        sources.append(extra)
    return concatenate(sources)


def _prepare(args: argparse.Namespace) -> tuple[HitDataset, dict, tuple[str, ...], str]:
    """Load the data and check it before anything trains: (dataset, summary, tasks, group
    key)."""
    import numpy as np

    from training.data.dataset import DatasetError
    from training.hits.sources import default_group_key, load_dataset

    dataset, summary = load_dataset(args.data, args.settings)
    tasks = tuple(args.tasks.split(",")) if args.tasks else tuple(dataset.tasks)
    unknown = [task for task in tasks if task not in dataset.tasks]
    if unknown:
        raise ConfigError(f"--tasks: '{unknown[0]}' is not a task of {args.data}")
    chosen = dataclasses.replace(
        dataset,
        tasks={task: dataset.tasks[task] for task in tasks},
        labels={task: dataset.labels[task] for task in tasks},
    )
    unlabelled = int(np.any([chosen.labels[task] < 0 for task in tasks], axis=0).sum())
    if unlabelled:
        raise DatasetError(
            f"{args.data}: {unlabelled} hits lack a label for {', '.join(tasks)} (choose --tasks)"
        )
    chosen.check_min_per_class(args.min_hits)
    group_key = args.group or default_group_key(dataset)
    if group_key not in dataset.groups:
        raise ConfigError(f"--group: '{group_key}' is not a grouping key of {args.data}")
    return dataset, summary, tasks, group_key


def _train(args: argparse.Namespace) -> int:
    import numpy as np

    from training.data.dataset import DatasetError, concatenate
    from training.data.splits import group_split

    config = train_config(args)
    strategy = None
    if args.distribute:
        from training.hits.distribute import mirrored_strategy

        strategy = mirrored_strategy(args.cpu_replicas)
    elif args.cpu_replicas:
        raise ConfigError("--cpu-replicas needs --distribute")
    dataset, summary, tasks, group_key = _prepare(args)
    extra = _extra_train(args, tasks)
    groups = dataset.groups[group_key]
    if len(set(groups.tolist())) < 3:
        raise DatasetError(
            f"{args.data}: {len(set(groups.tolist()))} '{group_key}' group(s); training "
            "needs at least 3 (whole groups for train, validation and test)"
        )
    rng = np.random.default_rng(args.seed)
    rest, test = group_split(groups, SPLIT_FRACTION, rng)
    fit, validation = group_split(groups[rest], SPLIT_FRACTION, rng)
    train = dataset.subset(rest[fit])
    splits = {
        "train": train if extra is None else concatenate([train, extra]),
        "validation": dataset.subset(rest[validation]),
        "test": dataset.subset(test),
    }
    split_summary = {
        name: {"hits": len(part), group_key: sorted(set(part.groups[group_key].tolist()))}
        for name, part in splits.items()
    }
    training = {"data": summary, "group_key": group_key, "splits": split_summary}
    if extra is not None:
        training["extra_train"] = {
            "sources": [str(path) for path in args.extra_train],
            "hits": len(extra),
        }
    finish_run(args.out, args.bundle or args.out / "bundle", splits, tasks, config, training,
               progress=not args.no_progress, strategy=strategy,
               float_fallback=args.float_fallback)  # fmt: skip
    return 0


def finish_run(
    out: Path,
    bundle_path: Path,
    splits: dict[str, HitDataset],
    tasks: tuple[str, ...],
    config,
    training: dict[str, Any],
    progress: bool = True,
    strategy=None,
    float_fallback: bool = False,
) -> dict[str, Any]:
    """Train on splits["train"] (early stopping on "validation"), export the int8 bundle
    checked on "test", evaluate it there through the firmware's path, and write the run
    folder: config.json, history.json/.png, report.json, confusion and embedding PNGs,
    float.tflite, and what deploy's export-hits needs (model.keras, run.json, export.npz:
    written before the export, so a refused export can be looked into and retried).

    Returns:
        The run's report (also in out/report.json).
    """
    from deploy.hits import export_hits_bundle, save_for_export
    from training.hits.evaluate import evaluate_bundle
    from training.hits.plots import plot_history
    from training.hits.train import dataset_features, train_classifier

    started = time.monotonic()
    features = FeatureConfig()
    train, validation, test = (splits[name] for name in ("train", "validation", "test"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(
        json.dumps({"tasks": list(tasks), **dataclasses.asdict(config)}, indent=2) + "\n"
    )
    result = train_classifier(train, validation, tasks, features, config, progress, strategy)
    trained_s = time.monotonic() - started
    training = {
        **training,
        "family": config.family,
        "seed": config.seed,
        "epochs_run": len(result.history["loss"]),
        "best_epoch": result.best_epoch,
    }
    classes = {task: tuple(train.tasks[task]) for task in tasks}
    calibration_x, test_x = dataset_features(train, features), dataset_features(test, features)
    test_y = {task: test.labels[task] for task in tasks}
    save_for_export(
        out,
        result.model,
        {"tasks": list(tasks), "classes": classes, "features": features.to_dict(),
         "family": config.family, "training": training},
        calibration_x, test_x, test_y,
    )  # fmt: skip
    (out / "history.json").write_text(json.dumps(result.history) + "\n")
    plot_history(result.history, out / "history.png")
    bundle, metrics = export_hits_bundle(
        result.model, tasks, classes, features, calibration_x, test_x, test_y, bundle_path,
        training, config.family, float_out=out / "float.tflite", float_fallback=float_fallback,
    )  # fmt: skip
    evaluation = evaluate_bundle(bundle.path, test, plots=out)
    report = {
        "bundle": str(bundle.path),
        "seconds": {"training": trained_s, "total": time.monotonic() - started},
        "training": training,
        "metrics": metrics,
        "dynamics_rank_correlation": evaluation["dynamics_rank_correlation"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for variant in ("float", "int8"):
        scores = ", ".join(
            f"{task} {score['accuracy']:.3f}/{score['macro_f1']:.3f}"
            for task, score in metrics[variant].items()
            if task in tasks
        )
        log.info("%s held-out accuracy/macro-F1: %s", variant, scores)
    log.info("%s bundle written to %s", metrics["shipped"], bundle.path)
    return report


def _evaluate(args: argparse.Namespace) -> int:
    from training.hits.evaluate import evaluate_bundle, write_report
    from training.hits.sources import load_dataset

    dataset, summary = load_dataset(args.data, args.settings)
    report = evaluate_bundle(args.model, dataset, plots=args.plots)
    write_report({**report, "data": summary}, args.report)
    for task, task_report in report["tasks"].items():
        log.info(
            "%s: accuracy %.3f, macro-F1 %.3f on %d hits",
            task, task_report["accuracy"], task_report["macro_f1"], task_report["n"],
        )  # fmt: skip
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from training.hits.calibrate import calibrate_bundle
    from training.hits.evaluate import write_report
    from training.hits.sources import load_dataset

    dataset, summary = load_dataset(args.data, args.settings, min_hits_per_class=0)
    report = calibrate_bundle(args.model, dataset, args.task, args.out)
    if args.report:
        write_report({**report, "data": summary}, args.report)
    accuracy = report["accuracy_on_these_hits"]
    log.info(
        "%s: offsets %s from %s hits; accuracy on these hits %.3f -> %.3f (score another take "
        "with `hits evaluate`); wrote %s",
        args.task,
        ", ".join(f"{name} {value:+.2f}" for name, value in report["offsets"].items()),
        sum(report["hits"].values()), accuracy["before"], accuracy["after"], report["bundle"],
    )  # fmt: skip
    return 0


def _crossval(args: argparse.Namespace) -> int:
    from training.hits.crossval import cross_validate
    from training.hits.evaluate import write_report

    config = train_config(args)
    if not 0.0 <= args.validation_fraction < 1.0:
        raise ConfigError(
            f"command line: --validation-fraction must be in [0, 1), got {args.validation_fraction}"
        )
    dataset, summary, tasks, group_key = _prepare(args)
    extra = _extra_train(args, tasks)

    def said(fold: dict[str, Any]) -> None:
        scores = ", ".join(f"{t} {fold['int8']['tasks'][t]['macro_f1']:.3f}" for t in tasks)
        log.info("held out %s (%d hits): int8 macro-F1 %s", fold["test_group"],
                 fold["hits"]["test"], scores)  # fmt: skip

    report = cross_validate(
        dataset,
        tasks,
        group_key,
        FeatureConfig(),
        config,
        args.validation_fraction,
        on_fold=said,
        extra_fit=extra,
    )
    write_report({"data": summary, "group_key": group_key, **report}, args.report)
    for variant, scores in report["mean"].items():
        log.info("%s mean macro-F1 over groups: %s", variant,
                 ", ".join(f"{t} {s['macro_f1']:.3f}" for t, s in scores.items()))  # fmt: skip
    return 0


def default_training_config():
    """The TrainConfig of the shipped default model (family chosen by docs/HIT_MODELS.md's
    comparison)."""
    from training.hits.train import TrainConfig

    return TrainConfig(family="vae", epochs=60, patience=12, members=3)


def _default(args: argparse.Namespace) -> int:
    from training.hits.simulated import SimulatedData, cached_split

    started = time.monotonic()
    data = SimulatedData()
    splits, summaries = {}, {}
    for name in ("train", "validation", "test"):
        split = getattr(data, name)
        splits[name], summary = cached_split(name, split, FeatureConfig(), args.cache)
        summaries[name] = {
            "players": list(split.players),
            "instruments": sorted({instrument for _, instrument in split.sessions}),
            **summary,
            "hits": len(splits[name]),
        }
    simulated_s = time.monotonic() - started
    config = default_training_config()
    config = dataclasses.replace(config, epochs=args.epochs or config.epochs, seed=args.seed)
    training = {
        "source": "simulator (training.simulator), onsets from firmware.onset.HitDetector",
        "splits": summaries,
    }
    report = finish_run(
        args.out, args.bundle, splits, GUITAR_TASKS, config, training, float_fallback=True
    )
    report["seconds"] = {
        "simulation": simulated_s,
        **report["seconds"],
        "total": time.monotonic() - started,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("default rebuilt in %.0f s (simulation %.0f s)", report["seconds"]["total"],
             simulated_s)  # fmt: skip
    return 0
