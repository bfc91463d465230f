"""Training batches after a resume: the epoch's order is the uninterrupted run's, whichever process draws it."""

from __future__ import annotations

import keras
import numpy as np

from image_classification.training.batches import ArrayBatches, EpochFollower

EPOCHS = 4


def _batches() -> ArrayBatches:
    images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
    return ArrayBatches(images, np.arange(40) % 2, 2, batch_size=8, shuffle=True, seed=3)


def _epoch_rows(batches: ArrayBatches) -> list[int]:
    return [int(value) for index in range(len(batches)) for value in batches[index][0].ravel()]


def test_a_resumed_epoch_reads_the_rows_of_the_uninterrupted_run() -> None:
    uninterrupted = _batches()
    orders = []
    for _ in range(EPOCHS):
        uninterrupted.on_epoch_begin()
        orders.append(_epoch_rows(uninterrupted))
        uninterrupted.on_epoch_end()
    assert len({tuple(order) for order in orders}) == EPOCHS  # a new order every epoch

    for done in range(EPOCHS):  # a new process, resumed after `done` epochs
        resumed = _batches()
        resumed.resume_after(done)
        resumed.on_epoch_begin()
        assert _epoch_rows(resumed) == orders[done]


def test_fit_tells_the_batches_which_epoch_begins() -> None:
    batches = _batches()
    inputs = keras.Input((1, 1, 1))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))
    model.compile("sgd", "categorical_crossentropy")
    follower = EpochFollower(batches)
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if batch == 0:
                seen.append(_epoch_rows(batches))

    model.fit(batches, epochs=EPOCHS, initial_epoch=2, callbacks=[follower, Recorder()], verbose=0)
    expected = _batches()
    expected.resume_after(2)
    expected.on_epoch_begin()
    assert seen[0] == _epoch_rows(expected)  # the third epoch's rows, as in a run that had trained two
