"""The manual lens registry: validation, presets, persistence, the mounted lens and its tags."""

import json

import pytest
from pydantic import ValidationError

from firmware.config import Settings
from firmware.exc import ApertureOutOfRange, LensIsPreset, LensNotFound
from firmware.lenses import PRESETS, LensRegistry, LensSetting, LensSpec

SUMMICRON_50 = "preset-leica-summicron-m-50-f-2"


def _reg(tmp_path) -> LensRegistry:
    return LensRegistry(tmp_path / "lenses.json")


def test_presets_are_facts_with_unique_ids():
    ids = [lens.id for lens in PRESETS]
    assert len(ids) == len(set(ids)) and SUMMICRON_50 in ids
    noct = next(lens for lens in PRESETS if "Noctilux" in lens.name)
    assert (noct.focal_length_mm, noct.max_f_number) == (50, 0.95)
    assert all(lens.preset and lens.min_f_number >= lens.max_f_number for lens in PRESETS)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "focal_length_mm": 50, "max_f_number": 2, "colour": "red"},
        {"name": "", "focal_length_mm": 50, "max_f_number": 2},
        {"name": "x", "focal_length_mm": 2, "max_f_number": 2},
        {"name": "x", "focal_length_mm": 50, "max_f_number": 0.5},
        {"name": "x", "focal_length_mm": 50, "max_f_number": 2, "min_f_number": 1.4},
        {"name": "x", "focal_length_mm": 50, "max_f_number": 2, "code": 64},
        {"name": "x", "focal_length_mm": 50, "max_f_number": 2, "code": -1},
    ],
)
def test_lens_spec_rejects_bad_values(bad):
    with pytest.raises(ValidationError):
        LensSpec.model_validate(bad)


def test_add_update_delete_persist(tmp_path):
    reg = _reg(tmp_path)
    spec = LensSpec(name="Jupiter-8 50 f/2", make="KMZ", focal_length_mm=50, max_f_number=2,
                    min_f_number=22, code=7)
    lens = reg.add(spec)
    assert lens.id == "kmz-jupiter-8-50-f-2" and not lens.preset
    assert reg.add(spec).id == "kmz-jupiter-8-50-f-2-2"
    changed = reg.update(lens.id, spec.model_copy(update={"max_f_number": 2.8}))
    assert changed.max_f_number == 2.8
    reg.delete("kmz-jupiter-8-50-f-2-2")
    again = _reg(tmp_path)
    assert [lens.id for lens in again.list()][len(PRESETS):] == ["kmz-jupiter-8-50-f-2"]
    assert again.get(lens.id).max_f_number == 2.8 and again.get(lens.id).code == 7
    assert [p.name for p in tmp_path.iterdir()] == ["lenses.json"], "no temporary files left"


def test_presets_are_read_only_and_unknown_ids_404(tmp_path):
    reg = _reg(tmp_path)
    spec = LensSpec(name="x", focal_length_mm=50, max_f_number=2)
    with pytest.raises(LensIsPreset):
        reg.update(SUMMICRON_50, spec)
    with pytest.raises(LensIsPreset):
        reg.delete(SUMMICRON_50)
    with pytest.raises(LensNotFound):
        reg.get("nope")
    with pytest.raises(LensNotFound):
        reg.set_current(LensSetting(id="nope"))
    # A user lens may not take a preset's id.
    assert reg.add(LensSpec(name="Preset", make="", focal_length_mm=50, max_f_number=2)).id == (
        "user-preset"
    )


def test_current_lens_and_aperture(tmp_path):
    reg = _reg(tmp_path)
    assert reg.current().lens is None and reg.lens_tags() is None
    cur = reg.set_current(LensSetting(id=SUMMICRON_50, f_number=2.8))
    assert cur.f_number == 2.8 and cur.lens.name == "Summicron-M 50 f/2"
    assert cur.optics["equivalent_focal_length_mm"] == pytest.approx(275.35, abs=0.01)
    assert reg.set_current(LensSetting(id=SUMMICRON_50, f_number=3.3)).f_number == 3.3
    assert reg.set_current(LensSetting(id=SUMMICRON_50)).f_number == 2.0  # wide open
    for bad in (1.4, 22):
        with pytest.raises(ApertureOutOfRange):
            reg.set_current(LensSetting(id=SUMMICRON_50, f_number=bad))
    reg.set_current(LensSetting(id=SUMMICRON_50, f_number=5.6))
    tags = _reg(tmp_path).lens_tags()
    assert (tags.make, tags.model, tags.focal_length_mm, tags.f_number) == (
        "Leica", "Summicron-M 50 f/2", 50, 5.6
    )
    assert reg.set_current(LensSetting(id=None)).lens is None
    with pytest.raises(ValidationError):
        LensSetting.model_validate({"id": SUMMICRON_50, "aperture": 2})


def test_unknown_min_aperture_defaults_to_f22(tmp_path):
    reg = _reg(tmp_path)
    lens = reg.add(LensSpec(name="Old 35", focal_length_mm=35, max_f_number=3.5))
    assert reg.set_current(LensSetting(id=lens.id, f_number=22)).f_number == 22
    with pytest.raises(ApertureOutOfRange):
        reg.set_current(LensSetting(id=lens.id, f_number=32))


def test_editing_or_deleting_the_mounted_lens(tmp_path):
    reg = _reg(tmp_path)
    lens = reg.add(LensSpec(name="Zoom", focal_length_mm=35, max_f_number=2, min_f_number=16))
    reg.set_current(LensSetting(id=lens.id, f_number=2))
    reg.update(lens.id, LensSpec(name="Zoom", focal_length_mm=35, max_f_number=2.8,
                                 min_f_number=16))
    assert reg.current().f_number == 2.8, "the ring setting is kept inside the new range"
    reg.delete(lens.id)
    assert reg.current().id is None


def test_corrupt_file_is_kept_aside(tmp_path):
    (tmp_path / "lenses.json").write_text("{not json")
    reg = _reg(tmp_path)
    assert len(reg.list()) == len(PRESETS)
    assert any(p.name.startswith("lenses.json.bad-") for p in tmp_path.iterdir())
    reg.set_current(LensSetting(id=SUMMICRON_50))
    assert json.loads((tmp_path / "lenses.json").read_text())["current"]["id"] == SUMMICRON_50


def test_from_settings(tmp_path):
    settings = Settings().with_overrides(storage={"data_dir": str(tmp_path)})
    assert LensRegistry.from_settings(settings).path == tmp_path / "lenses.json"
