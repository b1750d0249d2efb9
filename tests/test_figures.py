"""The figures as a user sees them (issue #14): plot functions return Figures and write only when
asked; occlusion's titles, scales and class panel; one colour bar in deconv; what zero looks like.

The arrays are made here (no model), so each figure's content is known exactly."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnzoo.visualize import plots
from cnnzoo.visualize.deconvnet import Projection
from cnnzoo.visualize.tools import Occlusion

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"]


def class_name(k: int) -> str:
    return NAMES[k]


def make_occlusion(prob: np.ndarray, top_class: np.ndarray, target: int = 6,
                   base_prob: float = 0.4, h: int = 28, w: int = 28) -> Occlusion:
    n = prob.shape[0]
    top_prob = np.linspace(0.5, 0.9, prob.size, dtype=np.float32).reshape(prob.shape)
    return Occlusion(target=target, size=5, stride=2, ys=[2 * i for i in range(n)],
                     xs=[2 * j for j in range(prob.shape[1])], prob=prob, top_class=top_class,
                     top_prob=top_prob, activation=np.random.default_rng(0).random(prob.shape),
                     layer="c3", channel=2, base_prob=base_prob, base_activation=1.0,
                     input_size=(h, w))


def pixels(h: int = 28, w: int = 28) -> np.ndarray:
    return np.random.default_rng(1).random((h, w, 1)).astype(np.float32)


def images(ax) -> list:
    return ax.get_images()


@pytest.fixture
def occlusion_figure():
    prob = np.linspace(0.36, 0.45, 144, dtype=np.float32).reshape(12, 12)
    top = np.full((12, 12), 6)
    top[:3, :3] = 2
    occ = make_occlusion(prob, top)
    return occ, plots.plot_occlusion(occ, pixels(), class_name, "lenet5", prediction=(2, 0.55))


def test_plots_return_figures_and_write_only_when_asked(tmp_path, monkeypatch, occlusion_figure):
    monkeypatch.chdir(tmp_path)
    occ, fig = occlusion_figure
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "sub" / "occ.png"
    assert isinstance(plots.plot_occlusion(occ, pixels(), class_name, path=out), Figure)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_occlusion_names_the_prediction_and_the_followed_class(occlusion_figure):
    _, fig = occlusion_figure
    title = fig.axes[0].get_title()
    assert "predicted Pullover (p=0.55)" in title
    assert "following Shirt (p=0.40)" in title


def test_occlusion_without_a_different_target_says_it_once():
    occ = make_occlusion(np.full((12, 12), 0.8, np.float32), np.full((12, 12), 6), base_prob=0.8)
    title = plots.plot_occlusion(occ, pixels(), class_name, prediction=(6, 0.8)).axes[0].get_title()
    assert "predicted Shirt (p=0.80)" in title and "following" not in title


def test_occlusion_probability_scale_fits_the_data_and_states_its_range(occlusion_figure):
    occ, fig = occlusion_figure
    prob_axes = next(a for a in fig.axes if a.get_title().startswith("p(Shirt)"))
    lo, hi = images(prob_axes)[0].get_clim()
    assert lo == pytest.approx(0.36, abs=1e-6) and hi == pytest.approx(0.45, abs=1e-6)
    assert "0.36 to 0.45" in prob_axes.get_title()


def test_occlusion_maps_cover_the_whole_image(occlusion_figure):
    """No empty strips along the edges: every map spans the input's full extent."""
    _, fig = occlusion_figure
    for ax in fig.axes[:5]:
        for im in images(ax):
            assert tuple(im.get_extent()) == pytest.approx((-0.5, 27.5, 27.5, -0.5)), ax.get_title()


def test_most_probable_class_panel_has_a_legend_per_class(occlusion_figure):
    _, fig = occlusion_figure
    ax = next(a for a in fig.axes if a.get_title().startswith("most probable class"))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Shirt 94%", "Pullover 6%"]
    # one class everywhere still shows where the model hesitated: the shading varies
    shade = images(ax)[1].get_alpha()
    assert np.ptp(shade) > 0


def signed_projection(k: int, channels: int = 1) -> Projection:
    image = np.random.default_rng(k).standard_normal((channels, 32, 32)).astype(np.float32)
    return Projection("c3", k, (k, k), 1.0 + k, image, (0, 9, 0, 9), (0, 9, 0, 9))


def test_deconv_has_one_colour_bar_and_square_pixels():
    fig = plots.plot_deconv([signed_projection(k) for k in range(4)], pixels(32, 32), "lenet5")
    bars = [a for a in fig.axes if a.get_ylabel() == "projection / max |projection|"]
    assert len(bars) == 1
    assert fig.axes[0].get_aspect() == 1.0
    assert "zero = white" in fig._suptitle.get_text()


def test_colour_projections_say_zero_is_grey():
    fig = plots.plot_deconv([signed_projection(0, channels=3)], pixels(32, 32)[..., [0, 0, 0]])
    assert "zero = grey" in fig._suptitle.get_text()
    assert not [a for a in fig.axes if a.get_ylabel() == "projection / max |projection|"]


@pytest.mark.parametrize("channels,zero", [(1, "zero = white"), (6, "zero = white"), (3, "zero = grey")])
def test_filters_note_matches_the_colour_map(channels, zero):
    weights = np.random.default_rng(0).standard_normal((8, channels, 5, 5)).astype(np.float32)
    assert zero in plots.plot_filters("c1", weights)._suptitle.get_text()


def test_evolution_title_names_model_epochs_and_picks_epochs():
    stack = np.random.default_rng(0).standard_normal((15, 6, 1, 5, 5)).astype(np.float32)
    fig = plots.plot_evolution("c1", list(range(1, 16)), stack, "lenet5 trained on sample (runs/l5)")
    text = fig._suptitle.get_text()
    assert "lenet5 trained on sample" in text and "epochs 1-15" in text and "zero = white" in text
    rows = [a.get_ylabel() for a in fig.axes if a.get_ylabel().startswith("epoch")]
    assert rows[0] == "epoch 1" and rows[-1] == "epoch 15" and len(rows) == 8


def test_feature_maps_show_the_strongest_first():
    maps = np.zeros((6, 4, 4), np.float32)
    for c, peak in enumerate([0.1, 3.0, 0.5, 2.0, 0.0, 1.0]):
        maps[c, 0, 0] = peak
    fig = plots.plot_feature_maps("c3", maps, pixels(8, 8), top=3)
    titles = [a.get_title() for a in fig.axes if a.get_title().startswith("ch ")]
    assert titles == ["ch 1", "ch 3", "ch 5"]
    assert "the 3 strongest" in fig._suptitle.get_text()


@pytest.mark.parametrize("n,rows,cols", [(9, 3, 3), (7, 2, 4), (17, 3, 6), (65, 6, 11), (1, 1, 1)])
def test_panel_grids_are_balanced(n, rows, cols):
    assert plots._grid(n, 1.6) == (rows, cols)
    assert n - (rows - 1) * cols >= cols // 2  # the last row is at least half full


def test_feature_maps_nine_panels_fill_a_3x3_grid():
    maps = np.random.default_rng(0).random((16, 4, 4)).astype(np.float32)
    fig = plots.plot_feature_maps("c3", maps, pixels(8, 8), top=8)
    assert len([a for a in fig.axes if a.get_visible() and a.get_images()]) == 9
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 3)


def _entry(value: float):
    from cnnzoo.visualize.tools import TopEntry

    patch = np.zeros((1, 3, 3), np.float32)
    return TopEntry(index=0, value=value, unit=(0, 0), projection=patch, image=patch,
                    field=(0, 2, 0, 2), projection_patch=patch, image_patch=patch, label=None)


def test_top9_notes_a_dead_channel():
    from cnnzoo.visualize.tools import TopChannel

    channels = [TopChannel("c1", 0, [_entry(v) for v in (0.5, 0.2, -0.1)]),
                TopChannel("c1", 4, [_entry(v) for v in (0.0, -0.03, -0.05)])]
    fig = plots.plot_top9(channels, [0.5], [0.5], "lenet5")
    titles = [s._suptitle.get_text() for s in fig.subfigs]
    assert "dead channel" not in titles[0]
    assert titles[1].endswith("(dead channel: no positive activation)")


def test_learning_curves_have_whole_epoch_ticks(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from cnnzoo.train import plots as train_plots

    made = []
    monkeypatch.setattr(train_plots, "_save", lambda fig, path: made.append(fig))
    rows = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.1 / e, train_top1=50 + e, test_top1=49 + e)
            for e in (1, 2, 3)]
    train_plots.learning_curves(rows, tmp_path / "curves.png")
    for ax in made[0].axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(made[0])


def test_titles_name_a_picture_by_its_file_name():
    from cnnzoo.visualize.command import _name

    assert _name("/home/someone/pictures/cat.jpg") == "cat.jpg"
    assert _name("cat.jpg") == "cat.jpg"
