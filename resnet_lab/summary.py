"""Tables and counts that show what a model is made of: layers, stages, work.

Plain text, formatted here rather than by ``model.summary()``, so the notebooks'
stored outputs do not change when Keras changes its summary layout.
"""

import re

import keras
import numpy as np


def layer_table(model):
    """One row per layer: name, type, output shape and number of parameters."""
    rows = [(layer.name, type(layer).__name__, _shape(layer.output), layer.count_params())
            for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return format_table(["layer", "type", "output shape", "parameters"], rows,
                        total=model.count_params())


def stage_of(layer_name):
    """'stem', 'stage 2' ... 'stage 5' or 'top' for a ResNet-50 layer name: ours
    (``res2a_branch2a``) or keras.applications' (``conv2_block1_1_conv``)."""
    match = re.match(r"^(?:res|bn)(\d)", layer_name) or re.match(r"^conv([2-9])_block",
                                                                   layer_name)
    if match:
        return f"stage {match.group(1)}"
    if layer_name in ("avg_pool", "max_pool", "predictions"):
        return "top"
    return "stem"


def stage_table(model):
    """One row per stage of a ResNet-50: blocks, output shape and parameters."""
    stages = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        stage = stages.setdefault(stage_of(layer.name), {"params": 0, "blocks": set()})
        stage["params"] += layer.count_params()
        stage["output"] = _shape(layer.output)
        block = re.match(r"^res\d([a-z])_", layer.name)
        if block:
            stage["blocks"].add(block.group(1))
    rows = [(name, len(s["blocks"]) or "-", s["output"], s["params"])
            for name, s in stages.items()]
    return format_table(["part", "blocks", "output shape", "parameters"], rows,
                        total=model.count_params())


def count_macs(model):
    """Multiply-accumulates of one forward pass for one image (convolutions and Dense)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            total += height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def _shape(tensor):
    return str(tuple(tensor.shape))


def format_table(header, rows, total=None):
    """A plain-text table: ``header`` (column titles), then ``rows`` (tuples), integers
    with thousands separators; the last column is right-aligned. With ``total``, a rule
    and a last row "total" that has it in the last column."""
    rows = [tuple(f"{c:,}" if isinstance(c, int) else str(c) for c in row) for row in rows]
    if total is not None:
        rows.append(("total",) + ("",) * (len(header) - 2) + (f"{total:,}",))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [str(c).ljust(w) if i < len(row) - 1 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(r) for r in rows]
    if total is not None:
        body.insert(len(body) - 1, rule)
    return "\n".join([line(header), rule, *body])
