"""The embeddings pipeline run with Kedro's runner on tiny real paintings, in memory."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from image_classification.pipelines.embeddings.pipeline import create_pipeline
from tests.pipelines.embeddings.tiny import EMBEDDINGS, PAINTERS, catalog

OUTPUTS = ("image_embeddings", "embedding_map", "embedding_analysis", "embedding_pca_figure", "embedding_tsne_figure",
           "embedding_metrics", "embedding_summary")  # fmt: skip


def test_the_pipeline_reads_the_preprocessed_images_and_its_settings() -> None:
    pipeline = create_pipeline()
    assert pipeline.inputs() == {"images_train", "images_val", "images_test", "class_names", "params:embeddings"}
    assert pipeline.all_outputs() == set(OUTPUTS)
    assert all(node.tags == {"embeddings"} for node in pipeline.nodes)


def test_the_pipeline_maps_clusters_and_summarises_real_paintings() -> None:
    data = catalog({"embeddings": EMBEDDINGS}, kept=OUTPUTS)
    SequentialRunner().run(create_pipeline(), data)

    embeddings = data.load("image_embeddings")
    assert embeddings["test_embeddings"].shape == (6, 1280)
    table = data.load("embedding_map")
    assert len(table) == 24 and set(table["label"]) == set(PAINTERS) and table["tsne_1"].notna().all()
    metrics = {name: entry["value"] for name, entry in data.load("embedding_metrics").items()}
    assert set(metrics) >= {"explained_variance_pc1_pc2", "kmeans_ari"}
    assert 0 < metrics["explained_variance_pc1_pc2"] < 1 and -0.5 <= metrics["kmeans_ari"] <= 1
    assert metrics["explained_variance_pc1_pc2"] == pytest.approx(data.load("embedding_analysis")["explained_variance_pc1_pc2"])
    assert isinstance(data.load("embedding_pca_figure"), Figure) and isinstance(data.load("embedding_tsne_figure"), Figure)
    assert f"adjusted Rand index {metrics['kmeans_ari']:.2f}" in data.load("embedding_summary")
    assert np.isfinite(table[["pca_1", "pca_2", "tsne_1", "tsne_2"]].to_numpy()).all()
