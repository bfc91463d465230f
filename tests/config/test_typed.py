"""The pydantic base of every settings block, and the reader that names each bad key."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import Field

from image_classification.config import (
    StrictSettings,
    load_settings,
    read_blocks,
    read_settings,
    setting_keys,
)
from image_classification.models.settings import (
    MODEL_SETTINGS,
    ScratchModelSettings,
    TransferModelSettings,
)
from image_classification.reporting.settings import RegistrySettings, ReportSettings


class Example(StrictSettings):
    count: int = 3
    ratio: float = 0.5
    name: str = "Adam"
    flag: bool = True
    sizes: list[int] | None = None
    extra: dict[str, Any] | None = None
    start: int | str | None = None
    anything: Any = None

    WHAT: ClassVar[str] = "example setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ("name",)

    def rules(self) -> list[tuple[str, bool, str]]:
        return [("count", self.count >= 1, "at least 1"), ("ratio", 0 <= self.ratio <= 1, "between 0 and 1")]


def test_defaults_and_keys() -> None:
    settings, problems = read_settings(Example, None, "example")
    assert problems == [] and settings == Example()
    assert setting_keys(Example)[:3] == ("count", "ratio", "name")


def test_values_are_converted_and_kept() -> None:
    block = {"count": 4.0, "ratio": 1, "name": "ADAMW", "sizes": [1, 2], "extra": {"a": 1}, "start": 7, "anything": [1]}
    settings, problems = read_settings(Example, block, "example")
    assert problems == []
    assert (settings.count, settings.ratio, settings.name, settings.start) == (4, 1.0, "adamw", 7)
    assert isinstance(settings.count, int) and isinstance(settings.ratio, float)
    assert settings.sizes == [1, 2] and settings.extra == {"a": 1} and settings.anything == [1]
    assert read_settings(Example, {"start": "block_1"}, "example")[0].start == "block_1"


def test_every_problem_is_named_with_the_block() -> None:
    block = {"cont": 2, "ratio": None, "flag": "maybe", "count": 2.5, "sizes": "1,2", "extra": [1]}
    settings, problems = read_settings(Example, block, "lib.example")
    assert settings is None
    assert {problem.parameter: problem.value for problem in problems} == {
        "lib.example.cont": 2, "lib.example.ratio": None, "lib.example.flag": "maybe", "lib.example.count": 2.5,
        "lib.example.sizes": "1,2", "lib.example.extra": [1],
    }  # fmt: skip
    assert len(problems) == len(block)
    by_name = {problem.parameter: problem.message for problem in problems}
    assert "'count'" in by_name["lib.example.cont"]  # the closest known key


def test_rules_name_the_block_that_set_the_key_or_the_last_one() -> None:
    _, problems = read_blocks(Example, [({"count": 0}, "shared"), ({}, "own")])
    assert [(problem.parameter, problem.value) for problem in problems] == [("shared.count", 0)]
    assert str(problems[0]).startswith("Setting shared.count = 0:")
    _, problems = read_blocks(Example, [({}, "shared"), ({"ratio": 2}, "own")])
    assert [problem.parameter for problem in problems] == ["own.ratio"]


def test_a_block_that_is_no_mapping() -> None:
    _, problems = read_settings(Example, ["count", 3], "example")
    assert [(problem.parameter, problem.value) for problem in problems] == [("example", ["count", 3])]


def test_load_settings_raises_every_problem() -> None:
    with pytest.raises(ValueError, match=r"example\.cont = 1\b.*example\.ratio = 5\.0\b"):
        load_settings(Example, {"cont": 1, "ratio": 5}, "example")


def test_report_settings_defaults_are_the_yaml(project_root) -> None:
    import yaml  # noqa: PLC0415

    report = yaml.safe_load((project_root / "conf/base/parameters_report.yml").read_text())["report"]
    settings = ReportSettings.from_config(report)
    assert settings == ReportSettings(registry=report.get("registry"))
    assert settings.registry_settings() == RegistrySettings()
    with pytest.raises(ValueError, match=r"report\.batch_siz = 8\b.*'batch_size'"):
        ReportSettings.from_config({"batch_siz": 8})
    with pytest.raises(ValueError, match=r"report\.confidence = 95\.0\b"):
        ReportSettings.from_config({"confidence": 95})


def test_model_settings_read_the_base_yaml(project_root) -> None:
    import yaml  # noqa: PLC0415

    for strategy, cls in MODEL_SETTINGS.items():
        models = yaml.safe_load((project_root / f"conf/base/parameters_{strategy}.yml").read_text())[strategy]["models"]
        for name, block in models.items():
            load_settings(cls, block, f"{strategy}.models.{name}")
    assert TransferModelSettings(backbone="vgg16").pooling == "avg"
    assert ScratchModelSettings().architecture_of("basenet") == "basenet"


def test_preprocess_settings_defaults_are_the_yaml(project_root) -> None:
    import yaml  # noqa: PLC0415

    from image_classification.data.settings import PreprocessSettings  # noqa: PLC0415

    preprocess = yaml.safe_load((project_root / "conf/base/parameters_preprocess.yml").read_text())["preprocess"]
    settings = load_settings(PreprocessSettings, preprocess, "preprocess")
    assert (settings.image_size, settings.resize_method, settings.workers) == (224, "stretch", None)
    with pytest.raises(ValueError, match=r"preprocess\.image_size = 4\b"):
        load_settings(PreprocessSettings, {"image_size": 4}, "preprocess")


def test_split_settings_defaults_are_the_yaml(project_root) -> None:
    import yaml  # noqa: PLC0415

    from image_classification.data.settings import SelectionSettings, SplitSettings  # noqa: PLC0415

    split = yaml.safe_load((project_root / "conf/base/parameters_split.yml").read_text())["split"]
    assert load_settings(SplitSettings, split, "split") == SplitSettings(selection=split["selection"])
    assert load_settings(SelectionSettings, split["selection"], "split.selection") == SelectionSettings()
    with pytest.raises(ValueError, match=r"split\.selection\.top_n = 5\b.*'top_n_classes'"):
        load_settings(SelectionSettings, {"top_n": 5}, "split.selection")


class Keyworded(StrictSettings):
    from_: str = Field("folder", alias="from")

    WHAT: ClassVar[str] = "labels setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        return [("from", self.from_ in ("folder", "csv"), "folder or csv")]


def test_a_key_that_is_a_python_keyword_is_read_into_its_underscored_field() -> None:
    assert setting_keys(Keyworded) == ("from",)
    assert read_settings(Keyworded, {"from": "csv"}, "ingest.labels")[0] == Keyworded(from_="csv")
    _, problems = read_settings(Keyworded, {"from": "xml", "form": "csv"}, "ingest.labels")
    assert [(problem.parameter, problem.value) for problem in problems] == [
        ("ingest.labels.form", "csv"),
        ("ingest.labels.from", "xml"),
    ]
    assert "'from'" in problems[0].message  # the closest known key, as written in the YAML


def test_the_ingest_settings_have_the_keys_the_ingest_code_reads(project_root) -> None:
    """The run checks read ``ingest`` with these classes; ingest's own code keeps its lists of keys."""
    import yaml  # noqa: PLC0415

    from image_classification.data.labels import LABEL_SETTINGS  # noqa: PLC0415
    from image_classification.data.settings import (  # noqa: PLC0415
        CheckSettings,
        IngestSettings,
        LabelSettings,
        SourceSettings,
    )
    from image_classification.data.sources import SOURCE_SETTINGS  # noqa: PLC0415
    from image_classification.pipelines.ingest.nodes import CHECK_SETTINGS  # noqa: PLC0415

    assert set(setting_keys(SourceSettings)) == set(SOURCE_SETTINGS)
    assert set(setting_keys(LabelSettings)) == set(LABEL_SETTINGS)
    assert set(setting_keys(CheckSettings)) == set(CHECK_SETTINGS)
    ingest = yaml.safe_load((project_root / "conf/base/parameters_ingest.yml").read_text())["ingest"]
    assert set(ingest) <= set(setting_keys(IngestSettings))
    for cls, block in ((SourceSettings, "source"), (LabelSettings, "labels"), (CheckSettings, "checks")):
        load_settings(cls, ingest[block], f"ingest.{block}")
