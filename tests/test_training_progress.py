"""training_progress: the live display of long cells, and npcore.train's callback (issue 13).

No timing is asserted: the redraw throttle depends on the clock, so the tests look
only at what a run leaves behind (the bar's count, the curve's PNG, the histories).
"""
import numpy as np
import pytest

import npcore as nc
import npconv
import training_progress as tp

PNG = b"\x89PNG\r\n\x1a\n"


def data(m=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((m, 784), dtype=np.float32), rng.integers(0, 10, m)


def fresh(seed=0):
    return nc.init_params(784, 16, 10, rng=seed, init="he")


def test_callback_sees_every_epoch_with_the_history_so_far():
    X, y = data()
    seen = []

    def callback(epoch, history):
        seen.append((epoch, {key: values.copy() for key, values in history.items()}))

    _, history = nc.train(X, y, fresh(), 4, 32, 0.1, rng=0, X_val=X[:20], y_val=y[:20],
                          callback=callback)
    assert [epoch for epoch, _ in seen] == [0, 1, 2, 3]
    for epoch, snapshot in seen:
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
            np.testing.assert_array_equal(snapshot[key][:epoch + 1], history[key][:epoch + 1])
            assert np.isnan(snapshot[key][epoch + 1:]).all(), f"{key} after epoch {epoch} is not NaN"


def test_train_results_bit_for_bit_the_same_with_and_without_the_display(capsys):
    X, y = data()
    plain_params, plain = nc.train(X, y, fresh(), 3, 32, 0.1, rng=1, X_val=X[:20], y_val=y[:20],
                                   augment=nc.shift_images, dropout=0.2)
    with tp.live(3, "test run") as progress:
        shown_params, shown = nc.train(X, y, fresh(), 3, 32, 0.1, rng=1, X_val=X[:20], y_val=y[:20],
                                       augment=nc.shift_images, dropout=0.2, callback=progress)
    for key in plain_params:
        np.testing.assert_array_equal(shown_params[key], plain_params[key])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_array_equal(shown[key], plain[key])
    assert capsys.readouterr() == ("", "")                       # nothing printed


def test_live_state_after_runs(capsys):
    X, y = data()
    with tp.live(5, "two runs") as progress:
        nc.train(X, y, fresh(0), 2, 32, 0.1, rng=0, callback=progress)
        nc.train(X, y, fresh(1), 3, 32, 0.1, rng=1, X_val=X[:20], y_val=y[:20], callback=progress)
    assert progress.bar.n == 5 and progress.bar.container.children[1].value == 5
    assert progress.bar.container.children[1].bar_style == "success"
    assert bytes(progress.image.value).startswith(PNG) and len(progress.image.value) > 1000
    assert [len(run["loss"]) for run in progress.runs] == [2, 3]    # epoch 0 starts a run
    assert np.isnan(progress.runs[0]["val_loss"]).all() and np.isfinite(progress.runs[1]["val_loss"]).all()
    assert "val_accuracy" in progress.bar.postfix and "loss" in progress.bar.postfix
    assert progress.draw_seconds                                  # drawn at least at the end
    assert capsys.readouterr() == ("", "")


def test_live_without_curve_and_an_error_inside_the_block(capsys):
    X, y = data()
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="loss became"):
        with tp.live(4, "diverges", curve=False) as progress:
            nc.train(X, y, fresh(), 4, 32, 1e30, rng=0, callback=progress)
    assert progress.image is None and progress.bar.n == 0
    assert progress.bar.container.children[1].bar_style == "danger"   # the error shows red
    assert capsys.readouterr() == ("", "")


def test_train_cnn_passes_the_callback_on():
    rng = np.random.default_rng(0)
    X, y = rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    params = npconv.init_cnn_params(rng=0)
    epochs = []
    npconv.train_cnn(X, y, params, 2, batch_size=8, rng=0, callback=lambda e, h: epochs.append(e))
    assert epochs == [0, 1]


def test_bar_counts_the_loop_and_prints_nothing(capsys):
    items = list(tp.bar(range(7), "seven steps"))
    assert items == list(range(7))
    assert capsys.readouterr() == ("", "")


def test_bar_state_after_the_loop():
    progress = tp.bar(range(7), "seven steps")
    for _ in progress:
        pass
    assert progress.n == 7 and progress.container.children[1].value == 7
    assert progress.container.children[1].bar_style == "success"


def test_what_live_and_bar_display_is_their_fixed_text_and_their_widget(monkeypatch):
    """The one output each display adds: its text/plain as the lessons store it, and the
    widget's view; the text stays the same after the training has moved the widget."""
    shown = []
    monkeypatch.setattr(tp, "_show", lambda widget, text: shown.append(tp._Shown(widget, text)))
    with tp.live(15, "9 runs") as progress:
        before = shown[0]._repr_mimebundle_()
        progress(0, {"loss": np.array([0.5]), "accuracy": np.array([0.9])})
    after = shown[0]._repr_mimebundle_()
    assert before["text/plain"] == after["text/plain"] == "[progress] 9 runs: 15 epochs (bar and loss curve)"
    assert before[tp.WIDGET_VIEW]["model_id"] == progress.widget.model_id
    with tp.live(3, "one run", curve=False):
        pass
    for _ in tp.bar(range(7), "seven steps"):
        pass
    for _ in tp.bar(range(5), "five rates", unit="run"):
        pass
    assert [s.text for s in shown] == ["[progress] 9 runs: 15 epochs (bar and loss curve)",
                                       "[progress] one run: 3 epochs",
                                       "[progress] seven steps: 7 iterations",
                                       "[progress] five rates: 5 runs"]


@pytest.mark.parametrize("total", [0, -1, 2.5, True, "3"])
def test_live_refuses_a_bad_total(total):
    with pytest.raises(ValueError, match="total must be an integer >= 1"):
        tp.live(total, "x")


@pytest.mark.parametrize("desc", ["", "  ", None, 3])
def test_a_bad_desc_is_refused(desc):
    with pytest.raises(ValueError, match="desc must be a non-empty string"):
        tp.live(3, desc)
    with pytest.raises(ValueError, match="desc must be a non-empty string"):
        tp.bar(range(3), desc)


def test_train_refuses_a_callback_that_is_not_a_function():
    X, y = data()
    with pytest.raises(ValueError, match="callback must be None or a function"):
        nc.train(X, y, fresh(), 1, 32, 0.1, callback="yes")


@pytest.mark.keras
def test_keras_callback_shows_every_epoch():
    keras = pytest.importorskip("keras")
    X, y = data(64)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with tp.live(3, "keras") as progress:
        model.fit(X, y, epochs=3, batch_size=32, verbose=0, validation_data=(X[:16], y[:16]),
                  callbacks=[progress.keras_callback()])
    assert progress.bar.n == 3 and len(progress.runs) == 1
    assert len(progress.runs[0]["loss"]) == 3 and np.isfinite(progress.runs[0]["val_accuracy"]).all()
    assert bytes(progress.image.value).startswith(PNG)
