"""PNG figures of the visualisation arrays (matplotlib's Agg canvas only; imported lazily).

Conventions: projections and filters are shown with zero as mid-grey and each panel scaled to
its own largest magnitude (the paper's figures are contrast-normalised the same way); one-channel
ones use a diverging colour map with a colour bar. Feature maps share one colour scale and bar.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CnnzooError
from .deconvnet import Projection
from .tools import Occlusion, TopChannel


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi, facecolor="white")
    except OSError as e:
        raise CnnzooError(f"cannot write {path}: {e.strerror or e}") from None
    return path


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


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, ratio: float = 1.5) -> tuple[int, int]:
    cols = max(1, min(n, math.ceil(math.sqrt(n * ratio))))
    return math.ceil(n / cols), cols


_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999")


# --- deconv ---------------------------------------------------------------------------------
def plot_deconv(projections: Sequence[Projection], pixels: np.ndarray, path: str | Path,
                title: str = "", aspect: float | None = None):
    """The input image (receptive fields outlined) beside one projection per panel, all at the
    input's pixel grid; `aspect` (width / height of the original photo) restores its shape."""
    from matplotlib.patches import Rectangle

    h, w = pixels.shape[:2]
    pa = w / (h * aspect) if aspect else "equal"
    n = len(projections) + 1
    cols = min(n, 5)
    rows = math.ceil(n / cols)
    shape = aspect or w / h  # displayed width / height of a panel
    bar = 0.9 if projections and projections[0].image.shape[0] != 3 else 0.0
    fig = _figure((2.8 + bar) * cols + 0.3, (2.8 / max(shape, 0.5) + 0.7) * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    _show_pixels(axes[0], pixels, pa)
    axes[0].set_title("input (as the model sees it)", fontsize=9)
    for k, p in enumerate(projections):
        colour = _COLOURS[k % len(_COLOURS)]
        y0, y1, x0, x1 = p.box
        if (y1 - y0 + 1, x1 - x0 + 1) != (h, w):
            axes[0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1,
                                        fill=False, edgecolor=colour, linewidth=1.5))
        ax = axes[k + 1]
        im = _show_signed(ax, p.image, pa)
        where = f" at {p.unit}" if p.unit is not None else ""
        ax.set_title(f"{p.layer} ch {p.channel}{where}\nactivation {p.value:.3g}", fontsize=9,
                     color=colour)
        if im is not None:
            fig.colorbar(im, ax=ax, shrink=0.8, label="projection / max |projection|")
    for ax in axes:
        _off(ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle((title + "\n" if title else "") +
                 "DeconvNet projections to pixel space (each panel scaled to its max; zero = "
                 + ("grey)" if not projections or projections[0].image.shape[0] == 3 else "white)"),
                 fontsize=10)
    return save(fig, path)


# --- top 9 ----------------------------------------------------------------------------------
def plot_top9(channels: Sequence[TopChannel], path: str | Path, mean: Sequence[float],
              std: Sequence[float], title: str = "", class_names: Sequence[str] | None = None):
    """Paper Fig. 2: per channel, a 3x3 block of projections beside the 3x3 image patches."""
    from .images import denormalise

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
        s.suptitle(f"{top.layer}, channel {top.channel}: projections (left), image patches (right)",
                   fontsize=9)
    grey = bool(channels and channels[0].entries and channels[0].entries[0].projection.shape[0] != 3)
    colours = "red +, blue -, white 0" if grey else "zero = grey"
    fig.suptitle((title + "\n" if title else "") + "9 strongest activations per feature map over the "
                 f"data set, cut to the receptive field (numbers: activation; #: image index; "
                 f"projections: {colours})", fontsize=10)
    return save(fig, path)


# --- filters and evolution ------------------------------------------------------------------
def _filter_note(weights: np.ndarray) -> str:
    c = weights.shape[1]
    return "" if c in (1, 3) else f" (mean over the {c} input channels)"


def plot_filters(layer: str, weights: np.ndarray, path: str | Path, title: str = ""):
    """One panel per filter (out x in x kh x kw), zero = grey, each scaled to its own max."""
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
                 f"{_filter_note(weights)}; zero = grey", fontsize=10)
    return save(fig, path)


def plot_evolution(layer: str, epochs: Sequence[int], stack: np.ndarray, path: str | Path,
                   title: str = ""):
    """Rows: epochs; columns: filters (epochs x count x in x kh x kw)."""
    e, n = stack.shape[:2]
    cell = max(0.45, min(1.0, 12 / n))
    fig = _figure(n * cell + 1.4, e * cell + 1.0)
    axes = fig.subplots(e, n, squeeze=False)
    im = None
    for r in range(e):
        for c in range(n):
            ax = axes[r, c]
            _off(ax)
            im = _show_signed(ax, stack[r, c]) or im
            if r == 0:
                ax.set_title(str(c), fontsize=7)
        axes[r, 0].set_ylabel(f"epoch {epochs[r]}", fontsize=8, rotation=0, ha="right", va="center")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="weight / max |weight|")
    fig.suptitle((title + "\n" if title else "") + f"{layer}: the first {n} filters at each saved "
                 f"epoch{_filter_note(stack[0])}; zero = grey, each scaled to its max", fontsize=10)
    return save(fig, path)


# --- feature maps ---------------------------------------------------------------------------
def plot_feature_maps(layer: str, maps: np.ndarray, pixels: np.ndarray, path: str | Path,
                      title: str = "", limit: int = 64):
    """The input, then each map of the layer (shared colour scale, one colour bar)."""
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
    shown = maps[:limit]
    n = shown.shape[0] + 1
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
        ax.set_title(f"ch {i - 1}", fontsize=7, pad=1)
    fig.colorbar(im, ax=list(axes), shrink=0.6, label="activation")
    more = f", first {limit} shown" if maps.shape[0] > limit else ""
    fig.suptitle((title + "\n" if title else "") + f"{layer}: {maps.shape[0]} feature maps of "
                 f"{maps.shape[1]}x{maps.shape[2]}{more}", fontsize=10)
    return save(fig, path)


# --- occlusion ------------------------------------------------------------------------------
def plot_occlusion(occ: Occlusion, pixels: np.ndarray, path: str | Path,
                   class_name=lambda k: f"class {k}", title: str = ""):
    """Paper Fig. 7: (a) the input with the grey square's size, (b) the total activation of the
    strongest feature map, (c) the probability of the class, (d) the most probable class, per
    position of the square; (e) the drop in probability at the input's scale."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    h, w = occ.input_size
    s = occ.stride
    # each cell of a map sits at the centre of its square
    extent = (occ.xs[0] + occ.size / 2 - s / 2, occ.xs[-1] + occ.size / 2 + s / 2,
              occ.ys[-1] + occ.size / 2 + s / 2, occ.ys[0] + occ.size / 2 - s / 2)
    fig = _figure(17, 4.0)
    ax = fig.subplots(1, 5)
    _show_pixels(ax[0], pixels)
    ax[0].add_patch(Rectangle((-0.5, -0.5), occ.size, occ.size, color="grey", alpha=0.9))
    ax[0].set_title(f"input, {occ.size}x{occ.size} grey square\nstride {s}; predicted "
                    f"{class_name(occ.target)} p={occ.base_prob:.2f}", fontsize=9)
    if occ.activation is not None:
        im = ax[1].imshow(occ.activation, cmap="viridis", extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=ax[1], shrink=0.8, label="total activation")
        ax[1].set_title(f"{occ.layer} ch {occ.channel} (strongest map)\nunoccluded "
                        f"{occ.base_activation:.3g}", fontsize=9)
    # 0 to 1 when the class is likely; else 0 to the largest value seen, so the map still shows
    top = max(float(occ.prob.max()), occ.base_prob)
    vmax = 1.0 if top > 0.2 else top or 1.0
    im = ax[2].imshow(occ.prob, cmap="magma", vmin=0, vmax=vmax, extent=extent,
                      interpolation="nearest")
    fig.colorbar(im, ax=ax[2], shrink=0.8, label=f"p({class_name(occ.target)})")
    ax[2].set_title(f"p({class_name(occ.target)}) by square position", fontsize=9)
    classes = sorted(set(occ.top_class.ravel().tolist()))
    lookup = {c: i for i, c in enumerate(classes)}
    palette = [_COLOURS[i % len(_COLOURS)] for i in range(len(classes))]
    ax[3].imshow(np.vectorize(lookup.get)(occ.top_class), cmap=ListedColormap(palette),
                 vmin=-0.5, vmax=len(classes) - 0.5, extent=extent, interpolation="nearest")
    ax[3].legend(handles=[Patch(color=palette[i], label=class_name(c)) for i, c in enumerate(classes[:8])],
                 fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax[3].set_title("most probable class", fontsize=9)
    drop = occ.pixels()
    m = float(np.abs(drop).max()) or 1.0
    _show_pixels(ax[4], pixels)
    im = ax[4].imshow(drop, cmap="RdBu_r", vmin=-m, vmax=m, alpha=0.6, interpolation="nearest")
    fig.colorbar(im, ax=ax[4], shrink=0.8, label="drop in p (mean over squares)")
    ax[4].set_title("probability drop per pixel", fontsize=9)
    for a in ax:
        a.set_xlim(-0.5, w - 0.5)
        a.set_ylim(h - 0.5, -0.5)
        _off(a)
    if occ.activation is None:
        ax[1].set_visible(False)
    fig.suptitle((title + "\n" if title else "") + "Occlusion sensitivity (Zeiler & Fergus Sec. 4.2)",
                 fontsize=10)
    return save(fig, path)
