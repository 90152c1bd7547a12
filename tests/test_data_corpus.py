"""Single-hit corpora: real drum samples rewritten at other rates, channel counts and formats."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from firmware.errors import InputFileError
from firmware.layout import PICKUP_CHANNEL
from training.data.__main__ import main
from training.data.audio import read_audio
from training.data.corpus import CorpusConfig, CorpusSettings, build_corpus, corpus_files
from training.data.dataset import DatasetError

KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")
pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
FEW = CorpusSettings(corpus=CorpusConfig(min_hits_per_class=1))


def write(path, name, rate_hz, channels, subtype="PCM_24"):
    """Rewrite a real 44.1 kHz kit sample at another rate and channel count (channel c at
    gain 1 / (c + 1), so channels differ)."""
    samples, rate = read_audio(KIT / name)
    mono = samples[:, 0]
    if rate_hz != rate:
        mono = resample_poly(mono, rate_hz, rate).astype(np.float32)
    data = mono[:, None] / (np.arange(channels) + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_format = "AIFF" if path.suffix.startswith(".aif") else None
    soundfile.write(path, data, rate_hz, subtype=subtype, format=file_format)
    return path


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    write(root / "snare" / "pearl" / "a.wav", "PearlSnare-Hard.wav", 44100, 1)
    write(root / "snare" / "pearl" / "b.FLAC", "PearlSnare-Med.wav", 96000, 2)
    write(root / "snare" / "loose.aiff", "PearlSnare-Soft.wav", 22050, 3)
    write(root / "kick" / "pearl" / "deep" / "k.aif", "PearlKick-Hard.wav", 48000, 8, "FLOAT")
    write(root / "kick" / "other" / "k2.wav", "PearlKick-Med.wav", 32000, 2, "PCM_16")
    (root / "kick" / "other" / "notes.txt").write_text("not audio")
    (root / "kick" / "other" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    soundfile.write(root / "kick" / "other" / "silent.wav", np.zeros(4800), 48000)
    return root


def test_files_classes_and_groups_follow_the_folders(corpus):
    files = {hit.path.name: (hit.class_name, hit.group) for hit in corpus_files(corpus)}
    assert files == {
        "k.aif": ("kick", "pearl"),
        "k2.wav": ("kick", "other"),
        "broken.wav": ("kick", "other"),
        "silent.wav": ("kick", "other"),
        "a.wav": ("snare", "pearl"),
        "b.FLAC": ("snare", "pearl"),
        "loose.aiff": ("snare", "corpus"),
    }


def test_corpus_builds_at_48k_on_six_channels_and_reports_bad_files(corpus):
    dataset, report = build_corpus(corpus, FEW)
    assert dataset.tasks == {"class": ("kick", "snare")}
    assert dataset.sample_rate_hz == 48000
    assert dataset.contexts.shape == (5, 608, 6)
    assert dataset.class_names("class").tolist() == ["kick", "kick", "snare", "snare", "snare"]
    assert dataset.groups["source"].tolist() == ["other", "pearl", "corpus", "pearl", "pearl"]
    assert not dataset.contexts[:, :, PICKUP_CHANNEL].any()
    assert np.all(np.isnan(dataset.dynamics))
    skipped = dict(report.skipped)
    assert "cannot read audio" in skipped[str(corpus / "kick/other/broken.wav")]
    assert "silent" in skipped[str(corpus / "kick/other/silent.wav")]
    assert report.to_dict()["kept"] == {"corpus": {"snare": 1}, "other": {"kick": 1},
                                        "pearl": {"kick": 1, "snare": 2}}  # fmt: skip


def test_channels_follow_the_documented_rule(corpus):
    dataset, _ = build_corpus(corpus, FEW)
    by_name = {Path(source).name: i for i, source in enumerate(dataset.source)}
    mono = dataset.contexts[by_name["a.wav"]]
    for piezo in range(1, 5):
        np.testing.assert_array_equal(mono[:, piezo], mono[:, 0])
    stereo = dataset.contexts[by_name["b.FLAC"]]  # right = left / 2: piezo1..3 left, 4..5 right
    np.testing.assert_allclose(stereo[:, 3], stereo[:, 0] / 2, atol=1e-4)
    np.testing.assert_array_equal(stereo[:, 2], stereo[:, 0])
    eight = dataset.contexts[by_name["k.aif"]]  # piezo k <- channel k * 8 // 5: 0 1 3 4 6
    for piezo, channel in enumerate((0, 1, 3, 4, 6)):
        np.testing.assert_allclose(eight[:, piezo], eight[:, 0] / (channel + 1), rtol=1e-5)


def test_window_starts_at_the_hit(corpus):
    dataset, report = build_corpus(corpus, FEW)
    assert not report.fallbacks
    window = np.abs(dataset.windows(FEW.features)[:, :, :5]).max(axis=2)
    before = window[:, : FEW.features.pre_roll_samples - 4].max(axis=1)
    assert np.all(before < 0.05 * window.max(axis=1))
    assert np.all(dataset.velocity > 0.3)


def test_too_few_hits_of_a_class_stop_the_build(corpus):
    with pytest.raises(DatasetError, match="class 'kick' of task 'class' has 2 hits, at least 3"):
        build_corpus(corpus, CorpusSettings(corpus=CorpusConfig(min_hits_per_class=3)))


def test_a_folder_without_class_folders_is_named(tmp_path):
    with pytest.raises(InputFileError, match="no such corpus folder"):
        build_corpus(tmp_path / "nothing")
    (tmp_path / "flat.wav").write_bytes(b"")
    with pytest.raises(InputFileError, match=rf"^{tmp_path}: no audio files in class folders"):
        build_corpus(tmp_path)


def test_command_line_reads_settings_tables(corpus, tmp_path, capsys):
    settings = tmp_path / "settings.toml"
    settings.write_text("[corpus]\nmin_hits_per_class = 1\n[context]\nmargin_samples = 8\n")
    assert main(["corpus", str(corpus), "--settings", str(settings), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks"]["class"] == {"kick": 2, "snare": 3}
    assert len(summary["skipped"]) == 2
    settings.write_text("[corpus]\nmin_hits_per_class = 1\n[contxt]\n")
    assert main(["corpus", str(corpus), "--settings", str(settings)]) == 2
    assert "settings.toml: unknown table [contxt]" in capsys.readouterr().err
    settings.write_text("[context]\nmargin_samples = -1\n")
    assert main(["corpus", str(corpus), "--settings", str(settings)]) == 2
    assert "settings.toml [context]: margin_samples must be >= 0" in capsys.readouterr().err
