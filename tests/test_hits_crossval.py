"""Leave-one-group-out: no fold trains or early-stops on the group it is tested on, and every
group is tested once, float and int8 alike."""

import numpy as np
import pytest

from firmware.features import FeatureConfig
from tests.hits_data import KIT, guitar_like_dataset
from training.data.dataset import DatasetError
from training.hits import crossval
from training.hits.crossval import cross_validate, group_folds
from training.hits.train import TrainConfig


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_folds_never_fit_or_validate_on_the_held_out_group(seed):
    rng = np.random.default_rng(seed)
    groups = rng.choice(np.array(["kitA", "kitB", "kitC", "kitD", "kitE", "kitF"]), 300)
    folds = list(group_folds(groups, 0.2, seed))
    assert [fold.test_group for fold in folds] == sorted(set(groups.tolist()))
    for fold in folds:
        assert set(groups[fold.test]) == {fold.test_group}
        assert fold.test_group not in set(groups[fold.fit]) | set(groups[fold.validation])
        assert not set(groups[fold.fit]) & set(groups[fold.validation])
        assert len(fold.validation) > 0
        every = np.sort(np.concatenate([fold.fit, fold.validation, fold.test]))
        np.testing.assert_array_equal(every, np.arange(len(groups)))


def test_without_validation_every_other_group_is_fitted():
    groups = np.array(["kitA", "kitB", "kitC"] * 20)
    for fold in group_folds(groups, 0.0, 0):
        assert len(fold.validation) == 0
        assert set(groups[fold.fit]) == {"kitA", "kitB", "kitC"} - {fold.test_group}
        every = np.sort(np.concatenate([fold.fit, fold.test]))
        np.testing.assert_array_equal(every, np.arange(len(groups)))
    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\), got -0.1"):
        next(group_folds(groups, -0.1, 0))


def test_two_groups_are_too_few_for_held_out_validation():
    with pytest.raises(DatasetError, match="a split by group needs at least two"):
        list(group_folds(np.array(["a", "a", "b"]), 0.2, 0))


@pytest.mark.slow
@pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
def test_each_group_is_tested_once_by_a_model_that_never_heard_it():
    dataset = guitar_like_dataset(96, groups=("a", "b", "c"))
    config = TrainConfig(epochs=2, batch_size=32, augment=None)
    seen = []
    report = cross_validate(
        dataset, ("hand",), "session", FeatureConfig(), config, on_fold=seen.append
    )
    assert [fold["test_group"] for fold in report["folds"]] == ["a", "b", "c"]
    assert seen == report["folds"]
    for fold in report["folds"]:
        assert fold["test_group"] not in fold["fit_groups"] + fold["validation_groups"]
        assert fold["hits"]["test"] == 32
        for variant in ("float", "int8"):
            assert fold[variant]["tasks"]["hand"]["n"] == 32
    mean = np.mean([fold["int8"]["tasks"]["hand"]["macro_f1"] for fold in report["folds"]])
    assert report["mean"]["int8"]["hand"]["macro_f1"] == pytest.approx(mean)


@pytest.mark.slow
@pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
def test_extra_hits_train_every_fold_and_are_never_validated_or_tested(monkeypatch):
    dataset = guitar_like_dataset(96, groups=("a", "b", "c"))
    extra = guitar_like_dataset(40, groups=("x",), seed=1)
    trained_on = []
    real_train = crossval.train_classifier

    def recording_train(fit, validation, *args, **kwargs):
        trained_on.append(
            (
                set(fit.groups["session"].tolist()),
                set(validation.groups["session"].tolist()),
                len(fit),
            )
        )
        return real_train(fit, validation, *args, **kwargs)

    monkeypatch.setattr(crossval, "train_classifier", recording_train)
    config = TrainConfig(epochs=1, batch_size=32, augment=None)
    report = cross_validate(dataset, ("hand",), "session", FeatureConfig(), config, extra_fit=extra)
    assert len(trained_on) == 3
    for fold, (fit_groups, validation_groups, hits) in zip(
        report["folds"], trained_on, strict=True
    ):
        assert "x" in fit_groups and "x" not in validation_groups
        assert hits == fold["hits"]["fit"] + 40 and fold["hits"]["extra_fit"] == 40
        assert fold["hits"]["test"] == 32 and fold["int8"]["tasks"]["hand"]["n"] == 32


@pytest.mark.slow
@pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
def test_without_validation_each_fold_trains_its_epochs_on_every_other_group(monkeypatch):
    dataset = guitar_like_dataset(96, groups=("a", "b", "c"))
    early_stopping = []
    real_train = crossval.train_classifier

    def recording_train(fit, validation, *args, **kwargs):
        early_stopping.append(validation)
        return real_train(fit, validation, *args, **kwargs)

    monkeypatch.setattr(crossval, "train_classifier", recording_train)
    config = TrainConfig(epochs=3, patience=1, batch_size=32, augment=None)
    report = cross_validate(dataset, ("hand",), "session", FeatureConfig(), config, 0.0)
    assert early_stopping == [None, None, None]
    for fold in report["folds"]:
        assert fold["validation_groups"] == [] and fold["hits"]["validation"] == 0
        assert fold["fit_groups"] == sorted({"a", "b", "c"} - {fold["test_group"]})
        assert fold["hits"]["fit"] == 64 and fold["best_epoch"] == 2
        assert fold["int8"]["tasks"]["hand"]["n"] == 32
