"""The report's settings (``params:report``): one typed object, its defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from image_classification.config import StrictSettings, load_settings

TTA_MODES = (None, "flip")


class RegistrySettings(StrictSettings):
    """Where a run's best model is registered (``report.registry``), read at the end of every run that reports.

    Attributes:
        register_model: (``register``) Register the best model of the run (false: child runs still log their models).
        model_name: Registered model name in the MLflow Model Registry.
        alias: Alias moved to the new version when it beats the holder on the same test split.
    """

    register_model: bool = Field(True, alias="register")  # not `register`: pydantic models have that method
    model_name: str = "image_classification"
    alias: str = "champion"

    WHAT: ClassVar[str] = "report.registry setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("model_name", bool(self.model_name.strip()), "a non-empty name"),
            ("alias", self.alias.isidentifier() and not self.alias.lower().startswith("v"), "a word not like v1"),
        ]


class ReportSettings(StrictSettings):
    """What the report pipeline reads from ``report:`` (conf/base/parameters_report.yml).

    Attributes:
        batch_size: Images per ``model.predict`` batch when scoring the test split and timing inference.
        bootstrap_samples: Resamples of the test images behind each accuracy confidence interval.
        confidence: Coverage of the accuracy confidence intervals (0.95: a 95% interval).
        alpha: Significance level of McNemar's test between the best model of each strategy.
        seed: Seed of the bootstrap, so the report is reproducible.
        grid_images: Test images shown per model in the prediction grid.
        tta: Test-time augmentation: ``flip`` also scores every model on the mirrored test images, averaging the
            two predictions (``tta_accuracy``, beside the plain accuracy); null scores the images as they are.
        gradcam_images: Test images in the Grad-CAM figure of the best transfer or fine-tuned model (half right,
            half wrong when possible); 0 leaves the figure out.
        registry: ``report.registry``, read as ``RegistrySettings`` (``registry_settings``).
    """

    batch_size: int = 64
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    seed: int = 0
    grid_images: int = 16
    tta: str | None = "flip"
    gradcam_images: int = 8
    registry: RegistrySettings | None = None

    WHAT: ClassVar[str] = "report setting"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str = "report") -> ReportSettings:
        """Reads and checks ``params:report``; missing keys take the defaults above.

        Raises:
            ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range.
        """
        return load_settings(cls, config, where)

    def registry_settings(self) -> RegistrySettings:
        """The ``registry`` block (its defaults where the YAML leaves it out)."""
        return self.registry or RegistrySettings()

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("bootstrap_samples", self.bootstrap_samples >= 1, "at least 1"),
            ("confidence", 0 < self.confidence < 1, "between 0 and 1"),
            ("alpha", 0 < self.alpha < 1, "between 0 and 1"),
            ("grid_images", self.grid_images >= 0, "0 or more"),
            ("tta", self.tta in TTA_MODES, f"one of {', '.join(str(mode) for mode in TTA_MODES)}"),
            ("gradcam_images", self.gradcam_images >= 0, "0 or more"),
            ("batch_size", self.batch_size <= 65_536, "at most 65,536"),
            ("bootstrap_samples", self.bootstrap_samples <= 1_000_000, "at most 1,000,000"),
            ("grid_images", self.grid_images <= 1_000, "at most 1,000 (images in one figure)"),
            ("gradcam_images", self.gradcam_images <= 1_000, "at most 1,000 (images in one figure)"),
        ]
