"""The similar pipeline run with Kedro's runner on tiny real paintings and their embeddings, in memory."""

from __future__ import annotations

import pytest
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from image_classification.pipelines.similar.nodes import RESULT_COLUMNS
from image_classification.pipelines.similar.pipeline import create_pipeline
from tests.pipelines.embeddings.tiny import (
    PREPROCESS,
    SIMILAR,
    catalog,
    painting_embeddings,
    painting_splits,
)

OUTPUTS = ("similar_gallery", "similar_retrieval", "similar_scores", "similar_metrics", "similar_examples_figure",
           "similar_images")  # fmt: skip


def test_the_pipeline_reads_the_embeddings_the_images_and_its_settings() -> None:
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        "image_embeddings", "splits", "class_names", "images_train", "images_val", "images_test", "params:similar",
        "params:preprocess",
    }  # fmt: skip
    assert pipeline.all_outputs() == set(OUTPUTS)


@pytest.mark.parametrize("with_query", [True, False], ids=["query", "no_query"])
def test_the_pipeline_scores_retrieval_and_answers_a_query(with_query: bool) -> None:
    table, _ = painting_splits()
    query = table.loc[table["split"] == "val", "path"].iloc[0] if with_query else None
    data = catalog(
        {"similar": {**SIMILAR, "query": query}, "preprocess": PREPROCESS},
        kept=OUTPUTS,
        image_embeddings=painting_embeddings(),
    )
    SequentialRunner().run(create_pipeline(), data)

    retrieval = data.load("similar_retrieval")
    k = SIMILAR["precision_k"]
    assert len(retrieval) == 6 and retrieval[f"precision_at_{k}"].between(0, 1).all()
    assert not set(retrieval["file"]) & set(retrieval["neighbour_1_file"])  # test images query train + val only
    metrics = {name: entry["value"] for name, entry in data.load("similar_metrics").items()}
    assert metrics[f"precision_at_{k}"] == pytest.approx(retrieval[f"precision_at_{k}"].mean())
    assert metrics[f"precision_at_{k}_chance"] == pytest.approx(1 / 3)  # three painters, equally many each
    assert isinstance(data.load("similar_examples_figure"), Figure)
    found = data.load("similar_images")
    assert list(found.columns) == RESULT_COLUMNS
    if with_query:
        assert len(found) == SIMILAR["top_k"] and query not in found["file"].tolist()
    else:
        assert found.empty
