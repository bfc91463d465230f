"""Neighbour search and precision@k on constructed embeddings whose answer is known; the similar pipeline's nodes on
tiny real paintings, and the errors a bad query image gets."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from image_classification.data.images import UnreadableImageError
from image_classification.pipelines.similar.nodes import (
    RESULT_COLUMNS,
    evaluate_retrieval,
    find_similar,
    gallery_table,
    plot_retrieval_examples,
    similar_metrics_for_mlflow,
)
from image_classification.reporting.embeddings import (
    chance_precision,
    example_queries,
    nearest_neighbours,
    precision_at_k,
)
from tests.pipelines.embeddings.tiny import (
    PAINTERS,
    PREPROCESS,
    SIMILAR,
    painting_embeddings,
    painting_splits,
)


def at_angles(degrees: list[float]) -> np.ndarray:
    """Unit vectors in the plane: their cosine distance is 1 - cos(angle between them)."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def constructed_embeddings() -> dict[str, np.ndarray]:
    """Class 0 near 0°, class 1 near 90°, and one class-1 impostor in val at 10°, among class 0.

    Test image 0 (class 0, at 0°): its 5 nearest are the four class-0 images and the impostor -> precision 4/5.
    Test image 1 (class 1, at 90°): the four class-1 images at 80-88°, then the impostor (80° away) before any class-0
    image (85-89° away) -> 5/5. Precision@5 = 0.9.
    """
    return {
        "train_embeddings": at_angles([1, 2, 4, 5, 80, 84, 86, 88]),
        "train_labels": np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        "val_embeddings": at_angles([10]),
        "val_labels": np.array([1]),
        "test_embeddings": at_angles([0, 90]),
        "test_labels": np.array([0, 1]),
    }


def constructed_gallery() -> pd.DataFrame:
    names = ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3", "impostor", "query0", "query1"]
    labels = ["A"] * 4 + ["B"] * 5 + ["A", "B"]
    return pd.DataFrame({"file": names, "label": labels, "split": ["train"] * 8 + ["val"] + ["test"] * 2})


def test_precision_at_5_on_a_constructed_case() -> None:
    retrieval, metrics = evaluate_retrieval(constructed_embeddings(), constructed_gallery(), {"precision_k": 5})
    assert metrics["precision_at_5"] == pytest.approx(0.9)
    assert retrieval["precision_at_5"].tolist() == pytest.approx([0.8, 1.0])
    assert retrieval.loc[0, "neighbour_1_file"] == "a0" and retrieval.loc[0, "neighbour_5_file"] == "impostor"
    assert retrieval.loc[1, "neighbour_1_file"] == "b3" and retrieval.loc[1, "neighbour_5_label"] == "B"
    assert retrieval.loc[0, "neighbour_1_distance"] == pytest.approx(1 - np.cos(np.radians(1)), abs=1e-6)
    # Random neighbours: class 0 is 4 of the 9 gallery images, class 1 is 5 of 9.
    assert metrics["precision_at_5_chance"] == pytest.approx((4 / 9 + 5 / 9) / 2)
    assert (metrics["queries"], metrics["gallery_images"]) == (2, 9)
    assert similar_metrics_for_mlflow(metrics)["precision_at_5"] == {"value": pytest.approx(0.9), "step": 0}


def test_precision_at_k_counts_neighbours_of_the_query_class() -> None:
    np.testing.assert_allclose(precision_at_k(np.array([0, 1]), np.array([[0, 0, 1, 2, 0], [0, 0, 0, 0, 0]])), [0.6, 0])
    assert chance_precision(np.array([0]), np.array([0, 1, 1, 1])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"neighbour_labels\b.*\(2,\)"):
        precision_at_k(np.array([0, 1]), np.array([0, 1]))


def test_nearest_neighbours_can_leave_each_query_itself_out() -> None:
    vectors = at_angles([0, 10, 30, 80])
    distances, rows = nearest_neighbours(vectors, vectors, 2, exclude=np.arange(4))
    assert rows.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]
    assert np.all(np.diff(distances, axis=1) >= 0) and np.all(distances > 0)
    _, rows = nearest_neighbours(vectors, vectors[:1], 3, exclude=np.array([-1]))  # nothing to leave out
    assert rows.tolist() == [[0, 1, 2]]
    with pytest.raises(ValueError, match=r"\b4\b\D+\b3\b"):
        nearest_neighbours(vectors, vectors, 4, exclude=np.arange(4))


def test_example_queries_cover_different_classes_first() -> None:
    chosen = example_queries(np.array([0, 0, 0, 1, 1, 2]), 3, seed=0)
    assert sorted(np.array([0, 0, 0, 1, 1, 2])[chosen].tolist()) == [0, 1, 2]
    assert len(example_queries(np.array([0, 0]), 4, seed=0)) == 2


@pytest.fixture(scope="module")
def paintings() -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    table, bundles = painting_splits()
    return table, bundles, painting_embeddings()


def test_gallery_lines_up_files_with_embeddings_or_says_what_to_rerun(paintings) -> None:
    table, _, embeddings = paintings
    gallery = gallery_table(table, PAINTERS, embeddings)
    assert gallery["split"].tolist() == ["train"] * 12 + ["val"] * 6 + ["test"] * 6
    assert gallery["file"].tolist() == table.sort_values("split", key=lambda s: s.map({"train": 0, "val": 1, "test": 2}),
                                                         kind="stable")["path"].tolist()
    with pytest.raises(ValueError, match=r"\bval\b.*split,preprocess,embeddings"):
        gallery_table(table.drop(index=table.index[table["split"] == "val"][0]), PAINTERS, embeddings)


def test_example_figure_shows_queries_with_their_neighbours(paintings) -> None:
    _, bundles, embeddings = paintings
    figure = plot_retrieval_examples(embeddings, bundles["train"], bundles["val"], bundles["test"], PAINTERS, SIMILAR)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == SIMILAR["examples"] * (SIMILAR["precision_k"] + 1)
    assert figure.axes[0].get_title().startswith("query\n")


def test_a_query_file_finds_its_copy_first_and_never_itself(paintings, tmp_path) -> None:
    table, _, embeddings = paintings
    gallery = gallery_table(table, PAINTERS, embeddings)
    original = gallery.loc[gallery["split"] == "test", "file"].iloc[0]
    copy = tmp_path / "copy.jpg"
    shutil.copy(original, copy)

    found = find_similar(embeddings, gallery, {**SIMILAR, "query": str(copy)}, PREPROCESS)
    assert list(found.columns) == RESULT_COLUMNS and found["rank"].tolist() == [1, 2, 3]
    assert found.loc[0, "file"] == original and found.loc[0, "cosine_distance"] == pytest.approx(0, abs=1e-4)
    assert found["cosine_distance"].is_monotonic_increasing and (found["query"] == str(copy)).all()

    itself = find_similar(embeddings, gallery, {**SIMILAR, "query": original}, PREPROCESS)
    assert original not in itself["file"].tolist() and len(itself) == 3
    assert itself["file"].tolist()[:2] == found["file"].tolist()[1:3]


def test_a_null_query_searches_nothing(paintings) -> None:
    table, _, embeddings = paintings
    found = find_similar(embeddings, gallery_table(table, PAINTERS, embeddings), SIMILAR, PREPROCESS)
    assert found.empty and list(found.columns) == RESULT_COLUMNS


@pytest.mark.parametrize(
    ("make", "error", "unreadable"),
    [
        (lambda folder: folder / "missing.jpg", FileNotFoundError, False),
        (lambda folder: folder, ValueError, False),
        (lambda folder: _write(folder / "empty.jpg", b""), ValueError, True),
        (lambda folder: _write(folder / "notes.jpg", b"not a picture"), ValueError, True),
    ],
    ids=["missing", "folder", "zero_bytes", "not_an_image"],
)
def test_a_bad_query_image_gets_a_clear_error(make, error, unreadable, tmp_path) -> None:
    """The error names ``similar.query``, the file, and the ``--params`` that sets another."""
    embeddings = constructed_embeddings() | {"image_size": np.array(32)}
    query = str(make(tmp_path))
    with pytest.raises(error, match=rf"similar\.query '{re.escape(query)}'.*--params similar\.query=") as caught:
        find_similar(embeddings, constructed_gallery(), {**SIMILAR, "query": query}, PREPROCESS)
    assert isinstance(caught.value.__cause__, UnreadableImageError) is unreadable
    if unreadable:
        assert caught.value.__cause__.path == query


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
