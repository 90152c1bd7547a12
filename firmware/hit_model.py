"""A hit model bundle at run time: features in, class probabilities and a 2-D embedding out.

The bundle's manifest names the output tensors and their classes; they are checked against the
model itself when it loads, so a bundle whose manifest and model disagree is refused up front
rather than producing mislabelled gestures on stage. A player-calibrated bundle also carries
per-class offsets (firmware.calibration), applied to the probabilities of every hit.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.bundle import MANIFEST_NAME, Bundle, check_parameters, load_bundle
from firmware.calibration import calibrated, manifest_offsets
from firmware.errors import BundleError
from firmware.features import FeatureConfig
from firmware.inference import TfliteModel

INPUT_NAME = "features"
OUTPUT_NAMES = ("hand", "location", "embedding")
EMBEDDING_DIMS = 2


@dataclass(frozen=True)
class HitPrediction:
    """Model outputs for one hit. Arrays are the model's buffers: copy to keep them."""

    hand_p: np.ndarray
    """Hand-part probabilities, float32 [n_hands], in HitModel.hand_classes order (with the
    bundle's calibration applied, if it has one)."""
    location_p: np.ndarray
    """Location probabilities, float32 [n_locations], in HitModel.location_classes order (ditto)."""
    embedding: np.ndarray
    """The hit's point in the 2-D latent space, float32 [2]."""


class HitModel:
    """A validated hit bundle loaded into the TFLite interpreter."""

    def __init__(self, bundle_path: Path, feature_config: FeatureConfig) -> None:
        self.bundle: Bundle = load_bundle(bundle_path, "hits")
        check_parameters(self.bundle, "features", feature_config.to_dict())
        where = self.bundle.path / MANIFEST_NAME
        classes = self.bundle.manifest.get("classes", {})
        self.hand_classes: tuple[str, ...] = tuple(classes.get("hand", ()))
        self.location_classes: tuple[str, ...] = tuple(classes.get("location", ()))
        if not self.hand_classes or not self.location_classes:
            raise BundleError(f"{where}: 'classes' must list 'hand' and 'location' class names")
        self.model = TfliteModel(self.bundle.model_path)
        expected_input = (1, feature_config.n_bands, len(self.bundle.manifest["channels"]))
        _check_shape(self.model.inputs, INPUT_NAME, expected_input, where)
        _check_shape(self.model.outputs, "hand", (1, len(self.hand_classes)), where)
        _check_shape(self.model.outputs, "location", (1, len(self.location_classes)), where)
        _check_shape(self.model.outputs, "embedding", (1, EMBEDDING_DIMS), where)
        self.offsets: dict[str, np.ndarray] = manifest_offsets(
            self.bundle.manifest.get("calibration"),
            self.classes,
            str(where),
        )

    def predict(self, features: np.ndarray) -> HitPrediction:
        """Run the model on one hit's features, float32 [n_bands, channels]."""
        self.model.set_input(INPUT_NAME, features)
        self.model.invoke()
        return HitPrediction(
            hand_p=self._probabilities("hand"),
            location_p=self._probabilities("location"),
            embedding=self.model.output("embedding")[0],
        )

    @property
    def classes(self) -> dict[str, tuple[str, ...]]:
        """Task -> class names, in the model's output order."""
        return {"hand": self.hand_classes, "location": self.location_classes}

    def with_offsets(self, offsets: dict[str, np.ndarray]) -> "HitModel":
        """The same model and interpreter playing with other calibration offsets (task ->
        float [n_classes]; {} for none): a calibration fitted on the board takes over with
        HitPath.replace_model, without loading anything. The two share the interpreter, so
        only one of them may be playing."""
        recalibrated = copy.copy(self)
        recalibrated.offsets = dict(offsets)
        return recalibrated

    def _probabilities(self, task: str) -> np.ndarray:
        """One task's output for the hit, through the calibration when there is one (a few
        microseconds per hit, for 4 or 5 classes)."""
        probabilities = self.model.output(task)[0]
        offsets = self.offsets.get(task)
        return probabilities if offsets is None else calibrated(probabilities, offsets)


def _check_shape(specs: dict, name: str, expected: tuple[int, ...], where: Path) -> None:
    if name not in specs:
        raise BundleError(f"{where}: the model has no tensor named '{name}' ({', '.join(specs)})")
    if specs[name].shape != expected:
        raise BundleError(
            f"{where}: tensor '{name}' has shape {specs[name].shape}, expected {expected}"
        )
