"""`python -m training hits ...`: train, evaluate and export hit models.

default   rebuild the shipped default model from the simulator: simulate, train, export
"""

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import HitarError
from firmware.features import FeatureConfig
from firmware.onset import DetectorConfig
from training.data.dataset import HitDataset

log = logging.getLogger(__name__)
TASKS = ("hand", "location")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training hits", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    default = commands.add_parser(
        "default", help="rebuild the shipped default bundle from simulated data"
    )
    default.add_argument("--out", type=Path, required=True, help="run folder (report, plots)")
    default.add_argument("--bundle", type=Path, required=True, help="bundle folder to write")
    default.add_argument("--epochs", type=int, default=40)
    default.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _default(args)
    except HitarError as error:
        log.error("error: %s", error)
        return 2


def _default(args: argparse.Namespace) -> int:
    from deploy.hits import export_hits_bundle
    from training.hits.simulated import SimulatedData, cached_split
    from training.hits.train import TrainConfig, dataset_features, train_classifier

    started = time.monotonic()
    features, detector, data = FeatureConfig(), DetectorConfig(), SimulatedData()
    cache = Path("build") / "sim-cache"
    splits = {
        name: cached_split(name, getattr(data, name), features, detector, cache)
        for name in ("train", "validation", "test")
    }
    simulated_s = time.monotonic() - started
    train, validation, test = (splits[name][0] for name in ("train", "validation", "test"))
    result = train_classifier(
        train, validation, TASKS, features, TrainConfig(epochs=args.epochs, seed=args.seed)
    )
    trained_s = time.monotonic() - started - simulated_s
    test_x = dataset_features(test, features)
    summary = {
        "source": "simulator (training.simulator), onsets from firmware.onset.HitDetector",
        "splits": {
            name: {
                "players": list(getattr(data, name).players),
                **splits[name][1],
                "hits": len(splits[name][0]),
            }
            for name in splits
        },
        "epochs_run": len(result.history["loss"]),
        "best_epoch": result.best_epoch,
        "seed": args.seed,
    }
    bundle, metrics = export_hits_bundle(
        result.model,
        TASKS,
        {task: train.tasks[task] for task in TASKS},
        features,
        calibration_x=dataset_features(train, features),
        check_x=test_x,
        check_y={task: test.labels[task] for task in TASKS},
        out=args.bundle,
        training_summary=summary,
        float_out=args.out / "float.tflite",
    )
    report = {
        "bundle": str(bundle.path),
        "seconds": {
            "simulation": simulated_s,
            "training": trained_s,
            "total": time.monotonic() - started,
        },
        "training": summary,
        "metrics": metrics,
        "dynamics_rank_correlation": _embedding_report(bundle.model_path, test, test_x, args.out),
    }
    _write_run(args.out, result.history, metrics, report)
    for variant in ("float", "int8"):
        accuracy = {t: metrics[variant][t]["accuracy"] for t in TASKS}
        log.info("%s held-out accuracy: hand %.3f, location %.3f", variant, *accuracy.values())
    log.info("bundle written to %s in %.0f s", bundle.path, report["seconds"]["total"])
    return 0


def _embedding_report(model_path: Path, test: HitDataset, test_x: np.ndarray, out: Path) -> dict:
    """Plot the int8 model's embedding of the held-out hits; rank correlation with dynamics."""
    from firmware.hit_model import INPUT_NAME
    from firmware.inference import TfliteModel
    from training.hits.metrics import dynamics_rank_correlation
    from training.hits.plots import plot_embedding

    outputs = TfliteModel(model_path).run_many(**{INPUT_NAME: test_x})
    hand = test.labels["hand"]
    plot_embedding(
        outputs["embedding"], hand, test.tasks["hand"], test.dynamics, out / "embedding.png"
    )
    return dynamics_rank_correlation(outputs["embedding"], hand, test.dynamics, test.tasks["hand"])


def _write_run(out: Path, history: dict, metrics: dict, report: dict[str, Any]) -> None:
    from training.hits.plots import plot_confusion, plot_history

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "history.json").write_text(json.dumps(history) + "\n")
    plot_history(history, out / "history.png")
    for task, task_report in metrics["int8"].items():
        plot_confusion(
            np.array(task_report["confusion"]),
            task_report["classes"],
            f"{task} (int8, held out)",
            out / f"confusion-{task}.png",
        )
