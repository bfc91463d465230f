"""Data-set profiles (``kedro run --env <profile>``): each one loads the way Kedro loads it and names only
settings that the pipelines accept, backbones and architectures that exist, and image sizes they can take.

Kedro merges parameters "soft" (settings.py): a profile changes single nested keys and inherits the rest from
conf/base. One real ``kedro run --env cats_vs_dogs_2k --pipelines ingest`` checks a local profile end to end.
"""

from __future__ import annotations

import inspect
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from image_classification.data.archives import is_archive
from image_classification.data.labels import LABEL_SETTINGS
from image_classification.data.labels import STRATEGIES as LABEL_STRATEGIES
from image_classification.data.sources import SOURCE_SETTINGS, SOURCE_TYPES
from image_classification.models.augmentation import AUGMENTATION_KEYS
from image_classification.models.settings import model_setting_keys
from image_classification.settings import CONFIG_LOADER_ARGS
from tests.scratch_project import make_scratch_project, run_kedro

PROFILES = ("artworks", "dog_breeds", "cats_dogs", "cifar100", "cub200", "cats_vs_dogs_2k", "impressionists")
LOCAL_PROFILES = ("cats_vs_dogs_2k", "impressionists")  # read ../shared in place
STRATEGIES = ("scratch", "transfer", "finetune")
# Settings each strategy's nodes read from `<strategy>.models.<name>`: the fields of its settings class.
MODEL_SETTINGS = {strategy: set(model_setting_keys(strategy)) for strategy in STRATEGIES}
# Where each profile's images come from, exactly (a typo here means a 404 for the user).
EXPECTED_SOURCES = {
    "artworks": ("kaggle_dataset", "kaggle_slug", "ikarus777/best-artworks-of-all-time"),
    "dog_breeds": ("kaggle_competition", "kaggle_slug", "dog-breed-identification"),
    "cats_dogs": ("url", "url", "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"),
    "cifar100": ("folder", "path", "data/01_raw/cifar100_png"),
    "cub200": ("url", "url", "https://data.caltech.edu/records/65de6-vgv20/files/CUB_200_2011.tgz?download=1"),
    "cats_vs_dogs_2k": ("folder", "path", "../shared/datasets/cats_vs_dogs_2k"),
    "impressionists": ("folder", "path", "../shared/datasets/impressionists_512px"),
}


def load_parameters(conf_source: Path, env: str) -> dict[str, Any]:
    """The parameters as ``kedro run --env <env>`` sees them (the project's own config-loader settings)."""
    loader = OmegaConfigLoader(conf_source=str(conf_source), env=env, **CONFIG_LOADER_ARGS)
    return loader["parameters"]


@pytest.fixture(scope="module")
def base_parameters(project_root) -> dict[str, Any]:
    return load_parameters(project_root / "conf", "base")  # env == base_env: conf/base alone


def enabled_models(parameters: dict[str, Any], strategy: str) -> dict[str, dict[str, Any]]:
    models = (parameters.get(strategy) or {}).get("models") or {}
    return {name: settings or {} for name, settings in models.items() if (settings or {}).get("enabled", True)}


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": value}`` for every non-dict value of a nested dict."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(leaves(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_every_profile_has_a_folder_with_a_parameters_file(project_root):
    for profile in PROFILES:
        assert (project_root / "conf" / profile / "parameters.yml").is_file(), f"conf/{profile}/parameters.yml"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_is_base_plus_only_its_own_keys(profile, project_root, base_parameters):
    """Soft merge: each key the profile sets wins, every other key, however deep, is base's."""
    merged = leaves(load_parameters(project_root / "conf", profile))
    own = leaves(yaml.safe_load((project_root / "conf" / profile / "parameters.yml").read_text()))
    base = leaves(base_parameters)
    for key, value in own.items():
        assert merged[key] == value, f"conf/{profile}: {key} should be {value!r}, is {merged[key]!r}"
    inherited = {key: value for key, value in base.items() if key not in own}
    assert inherited, f"conf/{profile} restates every base key"
    for key, value in inherited.items():
        # A profile that sets a whole sub-tree (e.g. a list) replaces base's leaves below it.
        if any(key.startswith(f"{mine}.") for mine in own):
            continue
        assert merged.get(key) == value, f"conf/{profile}: {key} should come from base ({value!r})"


def test_soft_merge_changes_single_nested_keys(project_root, base_parameters):
    merged = load_parameters(project_root / "conf", "artworks")
    assert merged["preprocess"]["augmentation"]["flip"] == "horizontal"  # the profile's
    assert merged["preprocess"]["augmentation"]["rotation"] == base_parameters["preprocess"]["augmentation"]["rotation"]
    assert merged["scratch"]["training"]["epochs"] == 30
    assert merged["scratch"]["training"]["learning_rate"] == base_parameters["scratch"]["training"]["learning_rate"]
    assert merged["training"] == base_parameters["training"]  # the shared block, untouched by the profile
    # A model added by the profile sits beside base's, which is kept whole.
    assert merged["transfer"]["models"]["mobilenet_v2"] == base_parameters["transfer"]["models"]["mobilenet_v2"]
    assert merged["transfer"]["models"]["resnet50"]["backbone"] == "resnet50"
    assert merged["ingest"]["source"]["raw_dir"] == base_parameters["ingest"]["source"]["raw_dir"]
    assert merged["report"] == base_parameters["report"]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_source_and_labels_are_ones_ingest_accepts(profile, project_root):
    ingest = load_parameters(project_root / "conf", profile)["ingest"]
    source, labels = ingest["source"], ingest["labels"]
    assert set(source) <= set(SOURCE_SETTINGS), f"unknown ingest.source keys {set(source) - set(SOURCE_SETTINGS)}"
    assert source["type"] in SOURCE_TYPES
    kind, key, value = EXPECTED_SOURCES[profile]
    assert (source["type"], source[key]) == (kind, value)
    if source["type"] != "folder":
        name = source["name"]
        assert name and Path(name).name == name and not name.startswith("."), f"ingest.source.name {name!r}"
    if source["type"] == "url":
        file_name = Path(urllib.parse.urlparse(source["url"]).path).name
        assert is_archive(file_name), f"{source['url']} does not name an archive"

    assert set(labels) <= set(LABEL_SETTINGS), f"unknown ingest.labels keys {set(labels) - set(LABEL_SETTINGS)}"
    assert labels["from"] in LABEL_STRATEGIES
    if labels["from"] == "filename":
        assert "label" in re.compile(labels["pattern"]).groupindex
    if labels["from"] == "csv":
        assert labels["csv_path"] and labels["id_column"] and labels["label_column"]
    assert isinstance(labels["ignore_dirs"], list)


@pytest.mark.parametrize("profile", PROFILES)
def test_models_exist_and_fit_the_image_size(profile, project_root):
    from image_classification.models.backbones import BACKBONES, validate_backbone_config  # noqa: PLC0415
    from image_classification.models.scratch import SCRATCH_MODELS, model_min_size  # noqa: PLC0415

    parameters = load_parameters(project_root / "conf", profile)
    image_size = parameters["preprocess"]["image_size"]
    assert isinstance(image_size, int) and image_size > 0
    assert set(parameters["preprocess"]["augmentation"]) <= set(AUGMENTATION_KEYS)
    models = {strategy: enabled_models(parameters, strategy) for strategy in STRATEGIES}
    assert any(models.values()), f"conf/{profile} trains no model"
    for strategy, configured in models.items():
        for name, settings in configured.items():
            unknown = set(settings) - MODEL_SETTINGS[strategy]
            assert not unknown, f"{strategy}.models.{name}: unknown settings {unknown}"
            assert parameters[strategy]["training"]["epochs"] >= 1

    for name, settings in models["scratch"].items():
        architecture = settings.get("architecture", name)
        assert architecture in SCRATCH_MODELS, f"scratch.models.{name}: unknown architecture {architecture!r}"
        options = settings.get("options") or {}
        accepted = set(inspect.signature(SCRATCH_MODELS[architecture]).parameters) - {"x", "num_classes"}
        assert set(options) <= accepted, f"scratch.models.{name}.options: {set(options) - accepted} not in {accepted}"
        assert image_size >= model_min_size(architecture, **options), f"{architecture} at {image_size} px"

    for name, settings in models["transfer"].items():
        assert settings["backbone"] in BACKBONES, f"transfer.models.{name}: unknown backbone {settings['backbone']!r}"
        assert image_size >= BACKBONES[settings["backbone"]].min_size
        unfreeze_from = models["finetune"].get(name, {}).get("unfreeze_from")
        validate_backbone_config(settings["backbone"], image_size, unfreeze_from)

    orphans = set(models["finetune"]) - set(models["transfer"])
    assert not orphans, f"finetune.models {orphans} have no transfer model of the same name to start from"


def test_study_specific_choices(project_root):
    artworks = load_parameters(project_root / "conf", "artworks")
    assert artworks["split"]["selection"]["top_n_classes"] == 10
    assert "resized" in artworks["ingest"]["labels"]["ignore_dirs"]  # the flat duplicate folder of the Kaggle set

    dogs = load_parameters(project_root / "conf", "dog_breeds")
    assert dogs["split"]["test_fraction"] == 0.05  # the study's 95/5, inherited from base
    assert (dogs["ingest"]["labels"]["csv_path"], dogs["ingest"]["labels"]["label_column"]) == ("labels.csv", "breed")
    assert "test" in dogs["ingest"]["labels"]["ignore_dirs"]  # unlabelled competition images

    classes = load_parameters(project_root / "conf", "cifar100")["split"]["selection"]["classes"]
    assert len(classes) == len(set(classes)) == 25


@pytest.mark.parametrize("profile", LOCAL_PROFILES)
def test_local_profiles_point_at_real_files_in_shared(profile, project_root, shared_dir):
    def in_shared(path: str) -> Path:
        """``../shared/x`` as kedro resolves it from the project root, wherever the shared folder really is."""
        assert path.startswith("../shared/"), f"{path} should be relative to the project root, in ../shared"
        return shared_dir / path.removeprefix("../shared/")

    parameters = load_parameters(project_root / "conf", profile)
    folder = in_shared(parameters["ingest"]["source"]["path"])
    assert folder.is_dir(), f"{folder} missing"
    for settings in enabled_models(parameters, "transfer").values():
        weights = settings.get("weights")
        if weights not in (None, "imagenet", "random"):
            assert in_shared(weights).is_file(), f"weights file {weights} not found"


def test_kedro_run_ingest_with_the_cats_vs_dogs_2k_profile(project_root, shared_dir, tmp_path):
    """The profile's relative ``../shared`` path is kept honest: the copy sits beside a link to the shared folder."""
    workdir = tmp_path / "project"
    (tmp_path / "shared").symlink_to(shared_dir, target_is_directory=True)
    make_scratch_project(workdir)
    run_kedro(workdir, "--env", "cats_vs_dogs_2k", "--pipelines", "ingest")  # kedro_env() drops KEDRO_ENV

    manifests = sorted((workdir / "data/02_intermediate/manifest.parquet").glob("*/manifest.parquet"))
    assert len(manifests) == 1, "ingest wrote no manifest version"
    manifest = pd.read_parquet(manifests[0])
    assert manifest["label"].value_counts().to_dict() == {"cat": 1001, "dog": 1001}
    assert manifest["path"].str.contains("cats_vs_dogs_2k").all()  # read in place, not copied
    assert not (workdir / "data" / "01_raw" / "cats_vs_dogs_2k").exists()
