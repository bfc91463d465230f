"""The settings of ``predict`` (conf/base/parameters_predict.yml): one typed object and its defaults.

Read by the model plan (``predict.model``, ``predict.top_k``), the run checks and the predict nodes, which also
check a served model's per-request ``predict.top_k``.
"""

from __future__ import annotations

from typing import ClassVar

from image_classification.config import StrictSettings

#: Upper bounds, far above any real use, so that a typo is refused by name before the run.
MAX_TOP_K = 1_000
MAX_BATCH_SIZE = 65_536


class PredictSettings(StrictSettings):
    """What ``kedro run --pipelines predict`` and the served model read from ``predict:``.

    Attributes:
        model: The trained model namespace used, ``<strategy>.<name>`` (checked by the model plan).
        images_dir: The folder of images to classify.
        top_k: Classes reported per image, most probable first.
        batch_size: Images per ``model.predict`` batch.
    """

    model: str | None = None
    images_dir: str | None = None
    top_k: int = 3
    batch_size: int = 64

    WHAT: ClassVar[str] = "predict setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("top_k", self.top_k >= 1, "at least 1 (classes reported per image)"),
            ("batch_size", self.batch_size >= 1, "at least 1 (images per batch)"),
            ("top_k", self.top_k <= MAX_TOP_K, f"at most {MAX_TOP_K:,}"),
            ("batch_size", self.batch_size <= MAX_BATCH_SIZE, f"at most {MAX_BATCH_SIZE:,} images per batch"),
        ]
