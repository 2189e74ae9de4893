"""Figures for the lessons: block diagrams, gradient plots, learning curves, images."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

_MAIN = "#4C72B0"
_SHORTCUT = "#DD8452"
_JOIN = "#55A868"


def draw_block(kind, f=3, filters=(64, 64, 256), s=2, ax=None):
    """Draw an identity or convolutional block: main path, shortcut, sum and ReLU.

    kind: "identity" or "convolutional". Returns the matplotlib Axes.
    """
    if kind not in ("identity", "convolutional"):
        raise ValueError(f"kind must be 'identity' or 'convolutional'; got {kind!r}.")
    F1, F2, F3 = filters
    stride = f", stride {s}" if kind == "convolutional" and s != 1 else ""
    main = [
        (f"Conv 1x1, {F1} filters{stride}", _MAIN), ("BatchNorm + ReLU", _MAIN),
        (f"Conv {f}x{f}, {F2} filters, 'same'", _MAIN), ("BatchNorm + ReLU", _MAIN),
        (f"Conv 1x1, {F3} filters", _MAIN), ("BatchNorm", _MAIN),
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5.5))
    ax.set_xlim(0, 10)
    ax.axis("off")
    title = "Identity block" if kind == "identity" else "Convolutional block"
    ax.set_title(f"{title}: output = ReLU(F(x) + shortcut(x))", fontsize=12)

    def box(x, y, text, color, width=4.6):
        ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.3), width, 0.6,
                                    boxstyle="round,pad=0.05", facecolor=color, alpha=0.85,
                                    edgecolor="black", linewidth=0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5, color="white")

    def arrow(start, end, color="black", style="-|>", connection="arc3"):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                     color=color, connectionstyle=connection, linewidth=1.2))

    box(3.5, 10.0, "input x", "#555555")
    ys = [9.0 - 1.0 * i for i in range(len(main))]
    previous = 10.0
    for y, (text, color) in zip(ys, main, strict=True):
        arrow((3.5, previous - 0.35), (3.5, y + 0.35))
        box(3.5, y, text, color)
        previous = y
    add_y, relu_y = ys[-1] - 1.2, ys[-1] - 2.2
    arrow((3.5, previous - 0.35), (3.5, add_y + 0.35))
    box(3.5, add_y, "Add: F(x) + shortcut(x)", _JOIN)
    arrow((3.5, add_y - 0.35), (3.5, relu_y + 0.35))
    box(3.5, relu_y, "ReLU -> output", _JOIN)
    ax.text(0.5, (ys[0] + ys[-1]) / 2, "main path F(x)", rotation=90, ha="center",
            va="center", fontsize=10, color=_MAIN)
    ax.set_ylim(relu_y - 0.6, 10.5)

    if kind == "identity":
        arrow((5.8, 10.0), (5.8, add_y), color=_SHORTCUT, connection="arc3,rad=-0.35")
        ax.text(8.4, (10.0 + add_y) / 2, "shortcut:\nx unchanged\n(needs channels = F3)",
                ha="center", va="center", fontsize=9.5, color=_SHORTCUT)
    else:
        arrow((5.8, 10.0), (8.0, 7.2), color=_SHORTCUT)
        box(8.0, 6.85, f"Conv 1x1, {F3}{stride}", _SHORTCUT, width=3.4)
        box(8.0, 5.85, "BatchNorm", _SHORTCUT, width=3.4)
        arrow((8.0, 6.5), (8.0, 6.2), color=_SHORTCUT)
        arrow((8.0, 5.5), (5.8, add_y), color=_SHORTCUT)
        ax.text(8.0, 8.6, "shortcut: projection\nto F3 channels", ha="center",
                fontsize=9.5, color=_SHORTCUT)
    return ax


def plot_gradient_norms(norms, ax=None, title="Gradient size per layer at initialisation",
                        ylabel="gradient norm of the layer's kernel (log scale)"):
    """Plot {label: [norm per layer, input side first]} on a log scale."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in norms.items():
        ax.semilogy(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    ax.set_title(title)
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)  # clear of x = 0
    return ax


def plot_history(history, figure=None):
    """Loss, accuracy and learning rate per epoch, from ``resnet_lab.training.read_history``.

    Draws on ``figure`` if given (a matplotlib Figure, e.g. one made without pyplot for
    saving to a file), else on a new pyplot figure.
    """
    epochs = [e + 1 for e in history["epoch"]]
    if figure is None:
        figure = plt.figure(figsize=(14, 4))
    axes = figure.subplots(1, 3)
    for ax, metric, label in [(axes[0], "loss", "loss (cross-entropy)"),
                              (axes[1], "accuracy", "accuracy")]:
        for prefix, name in [("", "training (during the epoch, batch statistics)"),
                             ("val_", "validation (inference mode)")]:
            if prefix + metric in history:
                ax.plot(epochs, history[prefix + metric], marker="o", label=name)
        ax.set_title(label.capitalize())
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if "learning_rate" in history:
        axes[2].plot(epochs, history["learning_rate"], marker="o", color="gray")
    axes[2].set_title("Learning rate at the end of each epoch")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    axes[2].grid(True, alpha=0.3)
    figure.tight_layout()
    return figure


def plot_learning_rate_range(result, ax=None, title="Learning-rate range test"):
    """Loss against learning rate (log scale) from ``lr_finder.find_learning_rate``,
    with its two suggestions marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(result.rates, result.raw_losses, color="lightgray", linewidth=1,
            label="loss of each step")
    ax.plot(result.rates, result.losses, color="C0", label="smoothed")
    ax.axvline(result.steepest, color="C2", linestyle="--",
               label=f"steepest descent: {result.steepest:.1e}")
    ax.axvline(result.suggestion, color="C1", linestyle=":",
               label=f"a tenth of the lowest loss's rate: {result.suggestion:.1e}")
    finite = [loss for loss in result.losses if np.isfinite(loss)]
    if finite:  # the divergence at the end would squash the rest
        ax.set_ylim(min(finite) - 0.1 * abs(min(finite)), 1.5 * finite[0])
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def show_images(images, labels, class_names, predicted=None, columns=8, title=None):
    """A grid of images titled by their class; with ``predicted``, wrong ones in red."""
    images = np.asarray(images)
    rows = int(np.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i >= len(images):
            continue
        ax.imshow(np.clip(images[i], 0, 255).astype("uint8"))
        text = class_names[labels[i]]
        color = "black"
        if predicted is not None:
            text = f"{class_names[predicted[i]]}\n(true: {text})"
            color = "black" if predicted[i] == labels[i] else "red"
        ax.set_title(text, fontsize=8, color=color)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix, class_names, title="Confusion matrix (validation)"):
    """matrix[true, predicted] as a heat map with counts."""
    figure, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for (row, column), count in np.ndenumerate(matrix):
        ax.text(column, row, int(count), ha="center", va="center", fontsize=8,
                color="white" if count > matrix.max() / 2 else "black")
    figure.colorbar(image, ax=ax, label="images")
    figure.tight_layout()
    return figure


def _depth(name):
    return int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))


def plot_error_curves(histories, title="Error per epoch, by depth: plain networks and ResNets"):
    """He et al.'s Fig. 6 for our runs: error per epoch, plain networks left, ResNets right.

    ``histories`` maps model names ("plain20", "resnet56", ...) to per-epoch histories
    (``resnet_lab.training.read_history``). Training error (dashed: the training
    pipeline's images, augmented if it augments, batch statistics, weights changing
    during the epoch) and validation error (solid: inference mode, end of the epoch),
    one colour per depth.
    """
    depths = sorted({_depth(name) for name in histories})
    colors = dict(zip(depths, plt.cm.viridis(np.linspace(0, 0.85, len(depths))), strict=True))
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, kind, label in [(axes[0], "plain", "plain networks"),
                            (axes[1], "resnet", "ResNets (the same layers plus skips)")]:
        for depth in depths:
            history = histories.get(f"{kind}{depth}")
            if history is None:
                continue
            epochs = [e + 1 for e in history["epoch"]]
            ax.plot(epochs, [100 * (1 - a) for a in history["accuracy"]], "--",
                    color=colors[depth], linewidth=1)
            ax.plot(epochs, [100 * (1 - a) for a in history["val_accuracy"]], "-",
                    color=colors[depth], linewidth=2.2, label=f"{kind}-{depth}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(title="solid: validation\ndashed: training")
    axes[0].set_ylabel("error (%)")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_loss_at_equal_depth(histories, title="Training loss at equal depth"):
    """Training loss per epoch of plainN next to resnetN, one panel per depth N."""
    depths = sorted({_depth(name) for name in histories})
    figure, axes = plt.subplots(1, len(depths), figsize=(4.4 * len(depths), 3.8),
                                sharey=True, squeeze=False)
    for ax, depth in zip(axes[0], depths, strict=True):
        for kind, color in [("plain", _SHORTCUT), ("resnet", _MAIN)]:
            history = histories.get(f"{kind}{depth}")
            if history is not None:
                ax.plot([e + 1 for e in history["epoch"]], history["loss"], marker="o",
                        markersize=3, color=color, label=f"{kind}-{depth}")
        ax.set_title(f"{depth} layers")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("training loss (cross-entropy)")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_lesions(results, intact, ax=None, title="Accuracy after deleting one block"):
    """{network: {block: accuracy}} as one line per network, with its intact accuracy.

    ``intact``: {network: accuracy of the whole network}. Blocks that halve the image
    (the first of stages 2 and 3, 's2b1' and 's3b1') are marked on the x axis.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    for (name, accuracies), colour in zip(results.items(), plt.cm.tab10.colors, strict=False):
        blocks = list(accuracies)
        ax.plot(range(1, len(blocks) + 1), list(accuracies.values()), marker="o",
                markersize=4, color=colour, label=f"{name}, one block deleted")
        ax.axhline(intact[name], color=colour, linestyle="--", linewidth=1,
                   label=f"{name}, intact")
    blocks = list(next(iter(results.values())))
    ticks = [i + 1 for i, b in enumerate(blocks) if b.endswith("b1") and not b.startswith("s1")]
    for tick in ticks:
        ax.axvline(tick, color="grey", alpha=0.3)
    ax.set_xticks(range(1, len(blocks) + 1))
    ax.set_xticklabels([b if i + 1 in ticks or i == 0 else "" for i, b in enumerate(blocks)],
                       fontsize=8)
    return _accuracy_axes(ax, "deleted block (grey: the blocks that halve the image)", title)


def plot_random_lesions(results, chance, ax=None,
                        title="Accuracy after deleting k blocks at random"):
    """{network: {k: [accuracy per sample]}}: the mean and the spread (min to max) per k."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for name, by_k in results.items():
        ks = sorted(by_k)
        values = [np.asarray(by_k[k]) for k in ks]
        line, = ax.plot(ks, [v.mean() for v in values], marker="o", label=f"{name}, mean")
        ax.fill_between(ks, [v.min() for v in values], [v.max() for v in values],
                        color=line.get_color(), alpha=0.2, label=f"{name}, min to max")
    ax.axhline(chance, color="grey", linestyle=":", label="chance")
    return _accuracy_axes(ax, "number of blocks deleted", title)


def _accuracy_axes(ax, xlabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_loss_surfaces(surfaces, coordinates, levels=None, figure=None):
    """{network: 2D loss array [b, a]} as contour plots side by side, same levels.

    One colour bar serves every panel; each second line is labelled with its loss.
    """
    if figure is None:
        figure = plt.figure(figsize=(6 * len(surfaces) + 1.5, 5), layout="constrained")
    axes = figure.subplots(1, len(surfaces), squeeze=False)[0]
    if levels is None:  # Li et al.'s plot_2D.py: a line every 0.5 from 0.1 up to 10
        levels = np.arange(0.1, 10.0, 0.5)
    a, b = np.meshgrid(coordinates, coordinates)
    for ax, (name, loss) in zip(axes, surfaces.items(), strict=True):
        contours = ax.contour(a, b, loss, levels=levels, cmap="viridis")
        labelled = [level for level in contours.levels[::2]
                    if np.nanmin(loss) <= level <= np.nanmax(loss)]  # lines that exist
        if labelled:
            ax.clabel(contours, labelled, fontsize=9, fmt="%.1f", inline_spacing=2)
        ax.plot([0], [0], marker="*", color="red", markersize=12, linestyle="none")
        ax.set_title(f"{name}: training loss")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_aspect("equal")
    bar = figure.colorbar(plt.cm.ScalarMappable(
        norm=plt.Normalize(levels[0], levels[-1]), cmap="viridis"), ax=list(axes),
        shrink=0.85)
    bar.set_label("training loss (blank where higher)")
    return figure


def plot_loss_slices(slices, coordinates, ax=None, title="Training loss along direction 1"):
    """{network: 1D loss array} against the step along the direction (0: trained)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for name, loss in slices.items():
        ax.semilogy(coordinates, loss, marker="o", markersize=3, label=name)
    ax.axvline(0, color="grey", alpha=0.4)
    ax.set_xlabel("step along the filter-normalised direction (0: the trained weights)")
    ax.set_ylabel("loss (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)  # clear of x = 0
    return ax
