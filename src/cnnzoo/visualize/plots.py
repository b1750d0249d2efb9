"""Figures of the visualisation arrays: each function returns a matplotlib Figure (shown inline in
a notebook) and writes it as a PNG only when given `path`.

Conventions: projections and filters are each scaled to their own largest magnitude (the paper's
figures are contrast-normalised the same way). Colour (3-channel) ones are shown as pictures with
zero at mid-grey; the others use one diverging colour map (red +, blue -, zero white) and one
colour bar per figure. Feature maps share one colour scale and bar. Figures are built on
matplotlib's Figure (no pyplot state), so nothing is shown or kept open behind the caller's back.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..errors import CnnzooError
from ..inference.pipeline import denormalise
from ..io import make_folder, save_figure
from .deconvnet import Projection
from .tools import Occlusion, TopChannel


def _figure(width: float, height: float):
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(fig, path: str | Path | None):
    """Write `fig` as a PNG to exactly `path` when a path is given; returns the figure either way.

    The path must end in .png and must not be a folder, a symlink or a device (one line
    otherwise); the picture is rendered in memory and written atomically, so matplotlib never
    picks the format or appends a suffix."""
    if path is None:
        return fig
    path = Path(path)
    if path.is_dir():
        raise CnnzooError(f"cannot write {path}: it is a folder; give a file name ending in .png, "
                          f"e.g. {path / 'figure.png'}")
    if path.suffix.lower() != ".png":
        raise CnnzooError(f"cannot write {path}: figures are written as PNG; give a file name "
                          "ending in .png")
    make_folder(path.parent)
    save_figure(fig, path, dpi=fig.dpi, facecolor="white")
    return fig


def _centred(arr: np.ndarray) -> np.ndarray:
    """C x H x W signed -> H x W x 3 (or H x W, the mean over C) in [0, 1], zero at 0.5."""
    if arr.shape[0] != 3:
        arr = arr.mean(0, keepdims=True)
    m = float(np.abs(arr).max())
    v = arr / (2 * m) + 0.5 if m > 0 else np.full_like(arr, 0.5)
    if v.shape[0] == 3:
        return v.transpose(1, 2, 0)
    return v.mean(0)


def _show_signed(ax, arr: np.ndarray, aspect: float | str = "equal"):
    """Show a signed C x H x W array; returns the image for a colour bar when C != 3."""
    img = _centred(arr)
    if img.ndim == 3:
        ax.imshow(img, aspect=aspect, interpolation="nearest")
        return None
    return ax.imshow(img * 2 - 1, cmap="RdBu_r", vmin=-1, vmax=1, aspect=aspect,
                     interpolation="nearest")


def _show_pixels(ax, pixels: np.ndarray, aspect: float | str = "equal") -> None:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    else:
        ax.imshow(np.clip(pixels, 0, 1), aspect=aspect, interpolation="nearest")


def _zero(arr: np.ndarray) -> str:
    """What zero looks like for a signed C x ... array drawn by _show_signed."""
    return "zero = grey" if arr.shape[0] == 3 else "red +, blue -, zero = white"


def _span(lo: float, hi: float) -> str:
    """'0.54 to 0.93', with as many significant digits as it takes to tell the ends apart."""
    for digits in range(2, 9):
        a, b = f"{lo:.{digits}g}", f"{hi:.{digits}g}"
        if a != b:
            return f"{a} to {b}"
    return f"{lo:.3g} (constant)"


def _bar(fig, im, ax, label: str):
    """A colour bar with plain tick labels (no '+3.278e2' offset above it)."""
    bar = fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    bar.formatter.set_useOffset(False)
    bar.update_ticks()
    return bar


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, ratio: float = 1.5) -> tuple[int, int]:
    """(rows, cols) for n panels, about `ratio` times wider than tall, rows balanced: the columns
    are the fewest that keep that many rows (9 panels: 3x3, not 4+4+1)."""
    cols = max(1, min(n, math.ceil(math.sqrt(n * ratio))))
    rows = math.ceil(n / cols)
    return rows, math.ceil(n / rows)


_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999")


# --- deconv ---------------------------------------------------------------------------------
def plot_deconv(projections: Sequence[Projection], pixels: np.ndarray, title: str = "", *,
                path: str | Path | None = None):
    """The input as the model sees it (receptive fields outlined) beside one projection per
    panel, all on the input's pixel grid (square pixels: the shapes the network worked on)."""
    h, w = pixels.shape[:2]
    n = len(projections) + 1
    cols = min(n, 5)
    rows = math.ceil(n / cols)
    signed = bool(projections) and projections[0].image.shape[0] != 3
    panel = 2.8
    fig = _figure(panel * cols * max(w / h, 0.5) + (0.9 if signed else 0.3),
                  (panel + 0.7) * rows * max(h / w, 0.5) + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    _show_pixels(axes[0], pixels)
    axes[0].set_title("input (as the model sees it)", fontsize=9)
    im = None
    for k, p in enumerate(projections):
        colour = _COLOURS[k % len(_COLOURS)]
        y0, y1, x0, x1 = p.box
        if (y1 - y0 + 1, x1 - x0 + 1) != (h, w):
            axes[0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1,
                                        fill=False, edgecolor=colour, linewidth=1.5))
        ax = axes[k + 1]
        im = _show_signed(ax, p.image) or im
        where = f" at {p.unit}" if p.unit is not None else ""
        ax.set_title(f"{p.layer} ch {p.channel}{where}\nactivation {p.value:.3g}", fontsize=9,
                     color=colour)
    for ax in axes:
        _off(ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    if im is not None:  # every panel is scaled to its own max: one bar says so for all
        fig.colorbar(im, ax=list(axes[1:n]), shrink=0.8, label="projection / max |projection|")
    zero = _zero(projections[0].image) if projections else ""
    fig.suptitle((title + "\n" if title else "") +
                 f"DeconvNet projections to pixel space (each panel scaled to its max; {zero})",
                 fontsize=10)
    return save(fig, path)


# --- top 9 ----------------------------------------------------------------------------------
def plot_top9(channels: Sequence[TopChannel], mean: Sequence[float], std: Sequence[float],
              title: str = "", class_names: Sequence[str] | None = None, *,
              path: str | Path | None = None):
    """Paper Fig. 2: per channel, a 3x3 block of projections beside the 3x3 image patches."""
    n = len(channels)
    per_row = 2 if n > 1 else 1
    rows = math.ceil(n / per_row)
    fig = _figure(6.6 * per_row, 3.5 * rows + 0.6)
    sub = fig.subfigures(rows, per_row, squeeze=False).ravel()
    for s, top in zip(sub, channels):
        grid = s.subplots(3, 7, gridspec_kw=dict(width_ratios=[1, 1, 1, 0.15, 1, 1, 1]))
        for r in range(3):
            grid[r, 3].set_visible(False)
        for k in range(9):
            pa, ia = grid[k // 3, k % 3], grid[k // 3, 4 + k % 3]
            _off(pa)
            _off(ia)
            if k >= len(top.entries):
                pa.set_visible(False)
                ia.set_visible(False)
                continue
            e = top.entries[k]
            _show_signed(pa, e.projection_patch)
            _show_pixels(ia, denormalise(e.image_patch, mean, std))
            pa.set_title(f"{e.value:.3g}", fontsize=7)
            label = f"#{e.index}"
            if e.label is not None:
                name = class_names[e.label] if class_names and e.label < len(class_names) else e.label
                label += f" {name}"
            ia.set_title(label, fontsize=7)
        dead = bool(top.entries) and max(e.value for e in top.entries) <= 0
        s.suptitle(f"{top.layer}, channel {top.channel}: projections (left), image patches (right)"
                   + (" (dead channel: no positive activation)" if dead else ""), fontsize=9)
    colours = _zero(channels[0].entries[0].projection) if channels and channels[0].entries else ""
    fig.suptitle((title + "\n" if title else "") + "9 strongest activations per feature map over the "
                 f"data set, cut to the receptive field (numbers: activation; #: image index; "
                 f"projections: {colours})", fontsize=10)
    return save(fig, path)


# --- filters and evolution ------------------------------------------------------------------
def _filter_note(weights: np.ndarray) -> str:
    c = weights.shape[1]
    return "" if c in (1, 3) else f" (mean over the {c} input channels)"


def plot_filters(layer: str, weights: np.ndarray, title: str = "", *,
                 path: str | Path | None = None):
    """One panel per filter (out x in x kh x kw), each scaled to its own max."""
    n = weights.shape[0]
    rows, cols = _grid(n, 1.6)
    cell = max(0.5, min(1.2, 10 / cols))
    fig = _figure(cols * cell + 1.2, rows * cell + 1.0)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    im = None
    for i, ax in enumerate(axes):
        _off(ax)
        if i >= n:
            ax.set_visible(False)
            continue
        im = _show_signed(ax, weights[i]) or im
        if n <= 128:
            ax.set_title(str(i), fontsize=6, pad=1)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.6, label="weight / max |weight| of the filter")
    o, c, kh, kw = weights.shape
    fig.suptitle((title + "\n" if title else "") + f"{layer}: {o} filters of {c}x{kh}x{kw}"
                 f"{_filter_note(weights)}; {_zero(weights[0])}", fontsize=10)
    return save(fig, path)


def _spread(count: int, most: int) -> list[int]:
    """Up to `most` indices from 0 to count - 1, evenly spread, always the first and the last."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def plot_evolution(layer: str, epochs: Sequence[int], stack: np.ndarray, title: str = "", *,
                   path: str | Path | None = None, most_epochs: int = 8):
    """Rows: epochs (at most `most_epochs`, evenly spread, first and last always shown, as the
    paper's Fig. 4 picks epochs); columns: filters. stack: epochs x count x in x kh x kw."""
    rows = _spread(len(epochs), most_epochs)
    e, n = len(rows), stack.shape[1]
    cell = max(0.45, min(1.0, 12 / n))
    fig = _figure(n * cell + 1.6, e * cell + 1.2)
    axes = fig.subplots(e, n, squeeze=False)
    im = None
    for r, k in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            _off(ax)
            im = _show_signed(ax, stack[k, c]) or im
            if r == 0:
                ax.set_title(str(c), fontsize=7)
        axes[r, 0].set_ylabel(f"epoch {epochs[k]}", fontsize=8, rotation=0, ha="right", va="center")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="weight / max |weight|")
    shown = "every saved epoch" if e == len(epochs) else f"{e} of {len(epochs)} saved epochs"
    fig.suptitle((title + "\n" if title else "") + f"{layer}: filters 0-{n - 1} at {shown} "
                 f"(epochs {epochs[0]}-{epochs[-1]}){_filter_note(stack[0])}; "
                 f"{_zero(stack[0, 0])}, each scaled to its max", fontsize=10)
    return save(fig, path)


# --- feature maps ---------------------------------------------------------------------------
def strongest_maps(maps: np.ndarray, top: int) -> list[int]:
    """The `top` channels with the largest activation, strongest first (ties: lower index)."""
    peak = maps.reshape(maps.shape[0], -1).max(1)
    return sorted(range(maps.shape[0]), key=lambda c: (-float(peak[c]), c))[:top]


def plot_feature_maps(layer: str, maps: np.ndarray, pixels: np.ndarray, title: str = "",
                      top: int = 64, *, path: str | Path | None = None):
    """The input, then the layer's `top` strongest maps, strongest first (one colour scale)."""
    if maps.ndim == 1:
        fig = _figure(10, 3.5)
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 3]))
        _show_pixels(ax1, pixels)
        _off(ax1)
        ax1.set_title("input", fontsize=9)
        ax2.bar(np.arange(maps.size), maps, width=1.0, color="#377eb8")
        ax2.set_xlabel("unit")
        ax2.set_ylabel("activation")
        ax2.set_title(f"{layer}: {maps.size} units", fontsize=9)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)
    order = strongest_maps(maps, top)
    shown = maps[order]
    n = len(order) + 1
    rows, cols = _grid(n, 1.6)
    cell = max(0.8, min(1.8, 14 / cols))
    fig = _figure(cols * cell + 1.4, rows * cell + 1.0)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    _show_pixels(axes[0], pixels)
    axes[0].set_title("input (model's view)", fontsize=7)
    vmin, vmax = float(shown.min()), float(shown.max())
    im = None
    for i, ax in enumerate(axes):
        _off(ax)
        if i == 0:
            continue
        if i >= n:
            ax.set_visible(False)
            continue
        im = ax.imshow(shown[i - 1], cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(f"ch {order[i - 1]}", fontsize=7, pad=1)
    fig.colorbar(im, ax=list(axes), shrink=0.6, label="activation")
    which = (f"the {len(order)} strongest, strongest first" if len(order) < maps.shape[0]
             else "strongest first")
    fig.suptitle((title + "\n" if title else "") + f"{layer}: {maps.shape[0]} feature maps of "
                 f"{maps.shape[1]}x{maps.shape[2]} ({which})", fontsize=10)
    return save(fig, path)


# --- occlusion ------------------------------------------------------------------------------
def plot_occlusion(occ: Occlusion, pixels: np.ndarray, class_name=lambda k: f"class {k}",
                   title: str = "", prediction: tuple[int, float] | None = None, *,
                   path: str | Path | None = None):
    """Paper Fig. 7: (a) the input with the grey square's size and the model's prediction,
    (b) the total activation of the strongest feature map, (c) the probability of the followed
    class, (d) the most probable class, per position of the square; (e) the drop in probability
    at the input's scale.

    prediction: (class, probability) of the unoccluded image; the title names it, and the
    followed class's probability separately when that class is another one. Maps (b)-(d) have
    one cell per square position and are drawn over the whole image (cell (i, j) is the square
    at row i, column j of the positions), scaled to the values they hold (the range is stated)."""
    h, w = occ.input_size
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)  # the maps span the image: no empty strips
    fig = _figure(18, 4.3)
    ax = fig.subplots(1, 5)
    _show_pixels(ax[0], pixels)
    ax[0].add_patch(Rectangle((-0.5, -0.5), occ.size, occ.size, color="grey", alpha=0.9))
    said = f"input, {occ.size}x{occ.size} grey square, stride {occ.stride}"
    if prediction is not None:
        said += f"\npredicted {class_name(prediction[0])} (p={prediction[1]:.2f})"
        if prediction[0] != occ.target:
            said += f"\nfollowing {class_name(occ.target)} (p={occ.base_prob:.2f})"
    else:
        said += f"\nfollowing {class_name(occ.target)} (p={occ.base_prob:.2f})"
    ax[0].set_title(said, fontsize=9)
    if occ.activation is not None:
        im = ax[1].imshow(occ.activation, cmap="viridis", extent=extent, interpolation="nearest")
        _bar(fig, im, ax[1], "total activation")
        ax[1].set_title(f"{occ.layer} ch {occ.channel} (strongest map)\nunoccluded "
                        f"{occ.base_activation:.3g}", fontsize=9)
    # the probability's own range: a 0.36-0.45 variation must not look flat on a 0-1 scale
    lo, hi = float(occ.prob.min()), float(occ.prob.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.005, hi + 0.005
    im = ax[2].imshow(occ.prob, cmap="magma", vmin=lo, vmax=hi, extent=extent,
                      interpolation="nearest")
    _bar(fig, im, ax[2], f"p({class_name(occ.target)})")
    ax[2].set_title(f"p({class_name(occ.target)}) by square position\n"
                    f"{_span(occ.prob.min(), occ.prob.max())}\n(unoccluded {occ.base_prob:.3g})",
                    fontsize=9)
    _plot_top_class(ax[3], occ, class_name, extent)
    drop = occ.pixels()
    m = float(np.abs(drop).max()) or 1.0
    _show_pixels(ax[4], pixels)
    im = ax[4].imshow(drop, cmap="RdBu_r", vmin=-m, vmax=m, alpha=0.6, interpolation="nearest")
    _bar(fig, im, ax[4], "drop in p (mean over squares)")
    ax[4].set_title(f"drop in p({class_name(occ.target)}) per pixel\n(red: the square hurts)",
                    fontsize=9)
    for a in ax:
        a.set_xlim(-0.5, w - 0.5)
        a.set_ylim(h - 0.5, -0.5)
        _off(a)
    if occ.activation is None:
        ax[1].set_visible(False)
    fig.suptitle((title + "\n" if title else "") + "Occlusion sensitivity (Zeiler & Fergus Sec. 4.2)",
                 fontsize=10)
    return save(fig, path)


def _plot_top_class(ax, occ: Occlusion, class_name, extent) -> None:
    """The most probable class per square position: one colour per class (legend with each
    class's share of the positions), brighter where the model is surer."""
    counts: dict[int, int] = {}
    for c in occ.top_class.ravel().tolist():
        counts[c] = counts.get(c, 0) + 1
    classes = sorted(counts, key=lambda c: -counts[c])
    lookup = {c: i for i, c in enumerate(classes)}
    palette = [_COLOURS[i % len(_COLOURS)] for i in range(len(classes))]
    index = np.vectorize(lookup.get)(occ.top_class)
    ax.imshow(index, cmap=ListedColormap(palette), vmin=-0.5, vmax=len(classes) - 0.5,
              extent=extent, interpolation="nearest")
    # shade by the top probability (darker = less sure), so one class everywhere still shows
    # where the square made the model hesitate
    lo, hi = float(occ.top_prob.min()), float(occ.top_prob.max())
    shade = 1 - (occ.top_prob - lo) / (hi - lo) if hi > lo else np.zeros_like(occ.top_prob)
    ax.imshow(np.zeros_like(shade), cmap="gray", alpha=0.6 * shade, extent=extent, vmin=0, vmax=1,
              interpolation="nearest")
    total = occ.top_class.size
    shown = classes[:8]
    handles = [Patch(color=palette[lookup[c]], label=f"{class_name(c)} {100 * counts[c] / total:.0f}%")
               for c in shown]
    if len(classes) > len(shown):
        handles.append(Patch(color="white", label=f"+{len(classes) - len(shown)} more"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
              frameon=False, title="share of positions", title_fontsize=7)
    ax.set_title(f"most probable class\nits p: {_span(lo, hi)}\n(darker: less sure)", fontsize=9)
