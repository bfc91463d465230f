"""The report's settings (``params:report``): one typed object, its defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from image_classification.config import load_settings


@dataclass(frozen=True)
class ReportSettings:
    """What the report pipeline reads from ``report:`` (conf/base/parameters_report.yml).

    Attributes:
        batch_size: Images per ``model.predict`` batch when scoring the test split and timing inference.
        bootstrap_samples: Resamples of the test images behind each accuracy confidence interval.
        confidence: Coverage of the accuracy confidence intervals (0.95: a 95% interval).
        alpha: Significance level of McNemar's test between the best model of each strategy.
        seed: Seed of the bootstrap, so the report is reproducible.
        grid_images: Test images shown per model in the prediction grid.
    """

    batch_size: int = 64
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    seed: int = 0
    grid_images: int = 16

    WHAT: ClassVar[str] = "report setting"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str = "report") -> ReportSettings:
        """Reads and checks ``params:report``; missing keys take the defaults above.

        Raises:
            ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range.
        """
        return load_settings(cls, config, where)

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("bootstrap_samples", self.bootstrap_samples >= 1, "at least 1"),
            ("confidence", 0 < self.confidence < 1, "between 0 and 1"),
            ("alpha", 0 < self.alpha < 1, "between 0 and 1"),
            ("grid_images", self.grid_images >= 0, "0 or more"),
        ]
