"""Hydrogen drum kits: drumkit.xml parsing, the name-to-class rules, real kits as datasets."""

import re
import shutil

import numpy as np
import pytest

from firmware.errors import InputFileError
from training.data.corpus import CorpusConfig, CorpusSettings
from training.data.drumkits import (
    CLASSES,
    DEFAULT_ROOT,
    build_drumkits,
    find_drumkits,
    instrument_class,
    mapping_markdown,
    package_kits,
    read_drumkit,
)

needs_kits = pytest.mark.skipif(
    not (DEFAULT_ROOT / "HardElectro1").is_dir(), reason="Debian hydrogen-drumkits not installed"
)
ANY_COUNT = CorpusSettings(corpus=CorpusConfig(min_hits_per_class=0))


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        ('Kick (Tama Superstar 22")', "kick"),
        ("BassDrum", "kick"),
        ("c3 - bass drum 1", "kick"),
        ("Snare Rimshot (Pearl Free Floating Maple 14x3.5)", "snare"),
        ("Snare1", "snare"),
        ("Floor Tom", "tom"),
        ("tomhi2", "tom"),
        ('Hi-Hat Pedal (Paiste Alpha Metal edge 14")', "hihat"),
        ("Hi Hat Closed", "hihat"),
        ("Side OHH", "hihat"),
        ("Sabian Hat Choke", "hihat"),
        ('Crash/Ride Bell (Paiste Rude Crash/Ride 18")', "cymbal"),
        ("ride-cup", "cymbal"),
        ('China (Paiste Alpha 18")', "cymbal"),
        ("Zildjian Splash", "cymbal"),
        ("Pearl Side Stick", None),
        ("Rim Click (Pearl Free Floating Maple 14x3.5)", None),
        ("Hand Clap", None),
        ("Snare Roll", None),
        ("Cowbell", None),
        ("Tambourine", None),
        ("Djembe1 Bass", None),
        ("17", None),
    ],
)
def test_instrument_names_map_by_the_documented_rules(name, class_name):
    assert instrument_class(name) == class_name


KIT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
  <name>Test Kit</name>
  <instrumentList>
    <instrument><id>0</id><name>Kick</name>
      <layer><filename>k1.wav</filename><min>0</min><max>0.5</max></layer>
      <layer><filename>k2.wav</filename><min>0.5</min><max>1</max></layer>
    </instrument>
    <instrument><id>1</id><name>Snare</name><filename>s.wav</filename></instrument>
    <instrument><id>2</id><name>Cowbell</name><filename>c.wav</filename></instrument>
    <instrument><id>3</id><name>Tom</name>
      <instrumentComponent><layer><filename>k1.wav</filename><min>0</min><max>1</max></layer>
      <layer><filename>gone.wav</filename><min>0</min><max>1</max></layer></instrumentComponent>
    </instrument>
  </instrumentList>
</drumkit_info>
"""


def test_read_drumkit_handles_namespaces_layers_old_format_and_components(tmp_path):
    (tmp_path / "drumkit.xml").write_text(KIT_XML)
    kit = read_drumkit(tmp_path)
    assert kit.name == "Test Kit"
    assert [instrument.name for instrument in kit.instruments] == [
        "Kick", "Snare", "Cowbell", "Tom",
    ]  # fmt: skip
    kick, snare, _, tom = kit.instruments
    assert [(layer.path.name, layer.dynamics) for layer in kick.layers] == [
        ("k1.wav", 0.25),
        ("k2.wav", 0.75),
    ]
    assert [(layer.path, layer.dynamics) for layer in snare.layers] == [(tmp_path / "s.wav", 0.5)]
    assert [layer.path.name for layer in tom.layers] == ["k1.wav", "gone.wav"]


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<drumkit_info><instrument>", "not valid XML"),
        (
            "<drumkit_info><instrument><name>K</name><layer><filename>a.wav</filename>"
            "<min>0.5</min><max>0.2</max></layer></instrument></drumkit_info>",
            "instrument 'K': velocity range [0.5, 0.2] not in [0, 1]",
        ),
        (
            "<drumkit_info><instrument><name>K</name><layer><filename>a.wav</filename>"
            "<min>soft</min></layer></instrument></drumkit_info>",
            "instrument 'K': velocity is not a number",
        ),
    ],
)
def test_malformed_drumkit_xml_is_named(tmp_path, xml, message):
    (tmp_path / "drumkit.xml").write_text(xml)
    with pytest.raises(InputFileError, match=rf"^{tmp_path / 'drumkit.xml'}: {re.escape(message)}"):
        read_drumkit(tmp_path)


@needs_kits
def test_missing_and_reused_samples_are_reported_not_loaded(tmp_path):
    kit = tmp_path / "kits" / "test"
    kit.mkdir(parents=True)
    (kit / "drumkit.xml").write_text(KIT_XML)
    for name, source in (("k1.wav", "HardHse_K_02.flac"), ("k2.wav", "PowR_BD_1.flac")):
        shutil.copy(DEFAULT_ROOT / "HardElectro1" / source, kit / name)
    shutil.copy(DEFAULT_ROOT / "HardElectro1" / "PowR_SN_1.flac", kit / "s.wav")
    dataset, report = build_drumkits(tmp_path / "kits", settings=ANY_COUNT)
    assert dataset.class_names("class").tolist() == ["kick", "kick", "snare"]
    assert dataset.dynamics.tolist() == [0.25, 0.75, 0.5]
    assert dataset.groups["kit"].tolist() == ["test"] * 3
    assert dict(report.skipped) == {
        str(kit / "k1.wav"): "'Tom' reuses the sample of 'Kick'",
        str(kit / "gone.wav"): "missing sample file",
    }


@needs_kits
def test_real_kits_become_one_group_each_with_layer_dynamics():
    kits = ("HardElectro1", "VariBreaks")
    dataset, report = build_drumkits(kits=kits, settings=ANY_COUNT)
    assert set(dataset.groups["kit"]) == set(kits)
    assert dataset.tasks == {"class": CLASSES}
    skipped = {path for path, _ in report.skipped}
    expected = {
        kit: sorted(
            instrument_class(instrument.name)
            for instrument in read_drumkit(DEFAULT_ROOT / kit).instruments
            for layer in instrument.layers
            if instrument_class(instrument.name) and str(layer.path) not in skipped
        )
        for kit in kits
    }
    for kit in kits:
        in_kit = dataset.groups["kit"] == kit
        assert sorted(dataset.class_names("class")[in_kit].tolist()) == expected[kit]
    assert np.all(dataset.dynamics == 0.5)  # old-format kits: one layer for all velocities
    assert all("clipped" in reason for _, reason in report.skipped)
    assert np.all(dataset.velocity > 0.3)


@needs_kits
def test_unknown_kit_and_empty_root_are_named(tmp_path):
    with pytest.raises(InputFileError, match="no kit 'NoSuchKit'"):
        build_drumkits(kits=("NoSuchKit",))
    with pytest.raises(InputFileError, match=rf"^{tmp_path}: no drum kits"):
        find_drumkits(tmp_path)


@needs_kits
def test_the_benchmark_takes_the_kits_of_one_package_only():
    """Kits of other packages in the same folder (hydrogen-data's GMRockKit) stay out."""
    kits = package_kits()
    assert "The Black Pearl 1.0" in kits and "GMRockKit" not in kits
    assert set(kits) <= {folder.name for folder in find_drumkits()}
    with pytest.raises(InputFileError, match=r"^no-such-package: not an installed Debian package"):
        package_kits("no-such-package")
    with pytest.raises(InputFileError, match=r"^coreutils: installed no drum kit"):
        package_kits("coreutils")


@needs_kits
def test_mapping_table_lists_every_kit():
    table = mapping_markdown()
    for folder in find_drumkits():
        assert f"| {folder.name} |" in table
    assert "Pearl Side Stick (5)" in table.split("| The Black Pearl 1.0 |")[1].split("\n")[0]


@pytest.mark.slow
@needs_kits
def test_all_debian_kits_build_with_every_class():
    dataset, report = build_drumkits(kits=package_kits())
    counts = dataset.summary()["tasks"]["class"]
    assert all(counts[name] >= 20 for name in CLASSES), counts
    assert len(set(dataset.groups["kit"])) >= 10
    assert len(report.fallbacks) <= 0.05 * len(dataset)
