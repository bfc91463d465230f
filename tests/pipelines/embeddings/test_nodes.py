"""The embeddings library (maps, clusters, neighbours) on constructed data, and each node of the embeddings pipeline."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from image_classification.models.embeddings import backbone_embeddings
from image_classification.pipelines.embeddings.nodes import (
    analyse_embeddings,
    embed_images,
    embedding_metrics_for_mlflow,
    plot_pca_map,
    plot_tsne_map,
    summarise_embeddings,
)
from image_classification.reporting.embedding_settings import EmbeddingSettings, SimilarSettings
from image_classification.reporting.embeddings import (
    adjusted_rand_index,
    kmeans_clusters,
    l2_normalized,
    pca_map,
    tsne_map,
)
from tests.pipelines.embeddings.tiny import (
    EMBEDDINGS,
    PAINTERS,
    painting_embeddings,
    painting_splits,
)


def blobs(per_class: int = 6, classes: int = 3, dims: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tight clusters around orthogonal directions: k-means recovers the labels exactly."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    vectors = np.eye(dims)[labels] * 10 + rng.normal(scale=0.1, size=(len(labels), dims))
    return vectors.astype(np.float32), labels


def bundle_of(vectors: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """An ``image_embeddings`` bundle with every third image in val and test."""
    part = {"train": np.arange(len(labels)) % 3 == 0, "val": np.arange(len(labels)) % 3 == 1}
    part["test"] = ~(part["train"] | part["val"])
    return {
        **{f"{split}_embeddings": vectors[mask] for split, mask in part.items()},
        **{f"{split}_labels": labels[mask] for split, mask in part.items()},
    }


def test_pca_of_points_on_a_line_puts_all_variance_on_pc1() -> None:
    along = np.linspace(-1, 1, 20)[:, None]
    coordinates, variance = pca_map(along * np.array([[3.0, 4.0, 0.0]]))
    assert coordinates.shape == (20, 2)
    assert variance[0] == pytest.approx(1.0) and variance[1] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match=r"\(1, 5\)"):
        pca_map(np.ones((1, 5)))


def test_tsne_maps_a_seeded_subset_when_asked() -> None:
    vectors, _ = blobs()
    coordinates, rows = tsne_map(vectors, perplexity=30, seed=0, max_points=10)  # perplexity lowered to fit 10
    assert coordinates.shape == (10, 2) and np.all(np.diff(rows) > 0) and rows.max() < len(vectors)
    again, same_rows = tsne_map(vectors, perplexity=30, seed=0, max_points=10)
    np.testing.assert_array_equal(rows, same_rows)
    np.testing.assert_allclose(coordinates, again, rtol=1e-4)


def test_kmeans_recovers_separated_classes_and_ari_scores_it() -> None:
    vectors, labels = blobs()
    clusters = kmeans_clusters(vectors, 3, seed=0)
    assert adjusted_rand_index(labels, clusters) == pytest.approx(1.0)
    # The cluster numbers need not be the labels' own: a relabelled grouping is still a perfect match.
    assert adjusted_rand_index(labels, (labels + 1) % 3) == pytest.approx(1.0)
    assert adjusted_rand_index(labels, np.arange(len(labels)) % 3) < 0.1  # across the classes: about chance
    with pytest.raises(ValueError, match=r"\bk=0\b"):
        kmeans_clusters(vectors, 0, seed=0)


def test_l2_normalized_rows_have_unit_length_and_zero_rows_stay_zero() -> None:
    normalised = l2_normalized(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(normalised, [[0.6, 0.8], [0.0, 0.0]])


def test_settings_name_unknown_keys_with_a_suggestion_and_bad_values() -> None:
    assert EmbeddingSettings.from_config(None) == EmbeddingSettings()
    with pytest.raises(ValueError, match=r"embeddings\.backbon = 'resnet50'.*'backbone'"):
        EmbeddingSettings.from_config({"backbon": "resnet50"})
    with pytest.raises(ValueError, match=r"embeddings\.pooling = 'mean'"):
        EmbeddingSettings.from_config({"pooling": "mean"})
    with pytest.raises(ValueError, match=r"similar\.precison_k = 3\b.*'precision_k'"):
        SimilarSettings.from_config({"precison_k": 3})
    with pytest.raises(ValueError, match=r"similar\.top_k = 0\b"):
        SimilarSettings.from_config({"top_k": 0})


def test_embed_images_embeds_every_split_with_the_backbone() -> None:
    _, bundles = painting_splits()
    embeddings = painting_embeddings()  # embed_images(train, val, test, EMBEDDINGS), shared by the tests
    for split, bundle in bundles.items():
        vectors = embeddings[f"{split}_embeddings"]
        assert vectors.shape == (len(bundle["labels"]), 1280) and vectors.dtype == np.float32
        np.testing.assert_array_equal(embeddings[f"{split}_labels"], bundle["labels"])
    assert np.isfinite(embeddings["train_embeddings"]).all()
    assert embeddings["train_embeddings"].std(axis=0).max() > 0  # different paintings, different vectors
    made_with = {key: embeddings[key].item() for key in ("backbone", "weights", "pooling", "image_size")}
    assert made_with == {"backbone": "mobilenet_v2", "weights": "imagenet", "pooling": "avg", "image_size": 32}


def test_embed_images_names_the_setting_of_a_bad_backbone() -> None:
    _, bundles = painting_splits()
    with pytest.raises(ValueError, match=r"embeddings\.backbone\b.*'mobilenet'"):
        embed_images(bundles["train"], bundles["val"], bundles["test"], {**EMBEDDINGS, "backbone": "mobilenet"})


def test_images_below_the_backbones_minimum_are_enlarged_to_it() -> None:
    """16 px images (the bundled digits' size) still get embeddings from a MobileNet that takes 32 px and up."""
    _, bundles = painting_splits()
    small = {split: {"images": bundle["images"][:2, ::2, ::2], "labels": bundle["labels"][:2]} for split, bundle in bundles.items()}
    embeddings = embed_images(small["train"], small["val"], small["test"], {**EMBEDDINGS, "weights": None})
    assert embeddings["test_embeddings"].shape == (2, 1280) and embeddings["image_size"].item() == 16
    with pytest.raises(ValueError, match=r"\(16, 16, 3\), \(32, 32, 3\)"):
        backbone_embeddings([bundles["train"]["images"], small["train"]["images"]], "mobilenet_v2", None, "avg")


def test_settings_defaults_are_the_yaml(project_root) -> None:
    for name, cls in (("embeddings", EmbeddingSettings), ("similar", SimilarSettings)):
        block = yaml.safe_load((project_root / f"conf/base/parameters_{name}.yml").read_text())[name]
        assert cls.from_config(block) == cls(), f"conf/base/parameters_{name}.yml and {cls.__name__} differ"


def test_analyse_embeddings_maps_and_clusters_every_image() -> None:
    vectors, labels = blobs()
    table, metrics = analyse_embeddings(bundle_of(vectors, labels), PAINTERS, {**EMBEDDINGS, "tsne_max_points": 12})
    assert list(table.columns) == ["split", "label", "pca_1", "pca_2", "tsne_1", "tsne_2", "cluster"]
    assert len(table) == 18 and table["split"].tolist()[:6] == ["train"] * 6
    assert table["tsne_1"].notna().sum() == 12  # only the subset is on the t-SNE map
    assert metrics["kmeans_ari"] == pytest.approx(1.0)
    assert metrics["explained_variance_pc1_pc2"] == pytest.approx(
        metrics["explained_variance_pc1"] + metrics["explained_variance_pc2"]
    )
    assert 0.9 < metrics["explained_variance_pc1_pc2"] <= 1.0  # three orthogonal clusters span a plane
    assert (metrics["images"], metrics["classes"]) == (18, 3)


def test_figures_metrics_and_summary_of_real_painting_embeddings() -> None:
    table, metrics = analyse_embeddings(painting_embeddings(), PAINTERS, EMBEDDINGS)
    assert set(table["label"]) == set(PAINTERS) and table["cluster"].between(0, 2).all()
    stored = pd.read_csv(io.StringIO(table.to_csv(index=False)))  # as the CSV dataset loads it back
    pca, tsne = plot_pca_map(stored, metrics, PAINTERS), plot_tsne_map(stored, PAINTERS)
    assert isinstance(pca, Figure) and isinstance(tsne, Figure)
    for figure in (pca, tsne):
        legend = figure.axes[0].get_legend()
        assert [text.get_text() for text in legend.get_texts()] == PAINTERS
        assert sum(len(collection.get_offsets()) for collection in figure.axes[0].collections) == 24
    assert "PC1 (" in pca.axes[0].get_xlabel()

    logged = embedding_metrics_for_mlflow(metrics)
    assert logged["kmeans_ari"] == {"value": pytest.approx(metrics["kmeans_ari"]), "step": 0}
    assert set(logged) == set(metrics)
    summary = summarise_embeddings(metrics, EMBEDDINGS)
    assert f"adjusted Rand index {metrics['kmeans_ari']:.2f}" in summary and "chance is 0" in summary
    assert "k-means (k = 3) on mobilenet_v2 embeddings of 24 images" in summary
