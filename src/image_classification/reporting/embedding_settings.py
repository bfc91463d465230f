"""The settings of the embeddings and similar pipelines (``params:embeddings``, ``params:similar``) and their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from image_classification.config import StrictSettings, load_settings

#: ``embeddings.pooling`` values (the transfer models' ``pooling``: GlobalAveragePooling2D or GlobalMaxPooling2D).
POOLINGS = ("avg", "max")


class EmbeddingSettings(StrictSettings):
    """What the embeddings pipeline reads from ``embeddings:`` (conf/base/parameters_embeddings.yml).

    Attributes:
        backbone: The pretrained backbone whose pooled features are the embeddings (``models.backbones.BACKBONES``).
        weights: ``imagenet`` (bundled for mobilenet_v2 and mobilenet_v1_075), a weights file, or null (random).
        pooling: ``avg`` or ``max``: how the backbone's last feature map becomes one vector per image.
        batch_size: Images per forward pass.
        l2_normalize: Scale each embedding to unit length before PCA, t-SNE and k-means, so they compare images
            by direction, as the cosine neighbour search does.
        tsne_perplexity: t-SNE's perplexity (about the number of neighbours each point keeps close); lowered to
            what the number of images allows.
        tsne_max_points: At most this many images (a seeded random subset) in the t-SNE map, which grows
            quadratically in time; PCA and k-means always use every image.
        seed: Seed of t-SNE, k-means and the subset.
    """

    backbone: str = "mobilenet_v2"
    weights: str | None = "imagenet"
    pooling: str = "avg"
    batch_size: int = 32
    l2_normalize: bool = True
    tsne_perplexity: float = 30.0
    tsne_max_points: int = 3000
    seed: int = 0

    WHAT: ClassVar[str] = "embeddings setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ("pooling",)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str = "embeddings") -> EmbeddingSettings:
        """Reads and checks ``params:embeddings``; missing keys take the defaults above.

        Raises:
            ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range.
        """
        return load_settings(cls, config, where)

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("pooling", self.pooling in POOLINGS, f"one of {', '.join(POOLINGS)}"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("tsne_perplexity", self.tsne_perplexity > 0, "above 0"),
            ("tsne_max_points", self.tsne_max_points >= 2, "at least 2"),
            ("batch_size", self.batch_size <= 65_536, "at most 65,536"),
            ("tsne_max_points", self.tsne_max_points <= 10_000_000, "at most 10,000,000"),
            ("tsne_perplexity", self.tsne_perplexity <= 10_000, "at most 10,000"),
        ]


class SimilarSettings(StrictSettings):
    """What the similar pipeline reads from ``similar:`` (conf/base/parameters_similar.yml).

    Attributes:
        query: An image file to find the most similar images to (a CSV of them); null: only the precision@k
            metric and the example figure.
        top_k: Images listed for the query.
        precision_k: Neighbours per test image behind the precision@k metric.
        examples: Test images shown, with their ``precision_k`` neighbours, in the example figure.
        seed: Seed of the choice of example images.
    """

    query: str | None = None
    top_k: int = 10
    precision_k: int = 5
    examples: int = 4
    seed: int = 0

    WHAT: ClassVar[str] = "similar setting"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str = "similar") -> SimilarSettings:
        """Reads and checks ``params:similar``; missing keys take the defaults above.

        Raises:
            ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range.
        """
        return load_settings(cls, config, where)

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("query", self.query is None or bool(self.query.strip()), "an image file path, or null"),
            ("top_k", self.top_k >= 1, "at least 1"),
            ("precision_k", self.precision_k >= 1, "at least 1"),
            ("examples", self.examples >= 0, "0 or more"),
            ("top_k", self.top_k <= 10_000, "at most 10,000"),
            ("precision_k", self.precision_k <= 10_000, "at most 10,000"),
            ("examples", self.examples <= 100, "at most 100 (images in one figure)"),
        ]
