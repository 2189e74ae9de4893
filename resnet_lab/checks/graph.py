"""Reading the Keras graph of what the learner built.

The checks read the functional graph through ``KerasTensor._keras_history`` and
``Operation._inbound_nodes``, which every Keras 3 release has. Each operation becomes
a ``Step`` of a few kinds (convolution, BatchNorm, ReLU, addition, ...) with words for
a message; ``linear_chain`` walks back along a plain sequence of layers, ``Subgraph``
collects everything between the tensors given to the learner and the learner's result.
"""

import keras
from keras import layers

from resnet_lab.checks.feedback import with_fix


class Step:
    """One operation of the graph, as the checks see it.

    kind: "conv", "bn", "relu", "activation" (another one), "add", "concat",
    "merge" (another multi-input operation) or "other".
    """

    def __init__(self, kind, op, node, output, describe, fused=False):
        self.kind = kind
        self.op = op
        self.node = node
        self.output = output
        self.describe = describe  # words for a message: "a Dropout layer"
        self.fused = fused  # an activation set inside a Conv2D (activation="relu")

    @property
    def inputs(self):
        return list(self.node.input_tensors)


def keras_history(tensor):
    """(operation, node) that produced ``tensor``; (None, None) if it has none."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None, None
    op = history.operation
    return op, op._inbound_nodes[history.node_index]


def is_keras_tensor(value):
    return isinstance(value, keras.KerasTensor)


def _activation_name(op):
    """'relu', another activation's name, or None if ``op`` is not an activation."""
    if isinstance(op, layers.Activation):
        return getattr(op.activation, "__name__", str(op.activation))
    cls = type(op).__name__
    if cls in ("ReLU", "Relu"):
        plain = (not getattr(op, "negative_slope", 0) and getattr(op, "max_value", None) is None
                 and not getattr(op, "threshold", 0))
        return "relu" if plain else "leaky or capped ReLU"
    if cls in ("LeakyReLU", "PReLU", "ELU", "Elu", "Softmax", "Sigmoid", "Tanh", "Relu6",
               "Gelu", "Silu", "Selu", "Softplus", "LeakyRelu", "HardSigmoid", "HardSilu"):
        return cls.lower()
    return None


def steps_of(tensor):
    """The steps that produced ``tensor`` (two for a Conv2D with an activation)."""
    op, node = keras_history(tensor)
    cls = type(op).__name__
    if isinstance(op, layers.Conv2D):
        conv = Step("conv", op, node, tensor, "a Conv2D")
        activation = getattr(op.activation, "__name__", "linear")
        if activation == "linear":
            return [conv]
        kind = "relu" if activation == "relu" else "activation"
        return [conv, Step(kind, op, node, tensor, f"activation='{activation}' inside a Conv2D",
                           fused=True)]
    if isinstance(op, layers.BatchNormalization):
        return [Step("bn", op, node, tensor, "a BatchNormalization")]
    activation = _activation_name(op)
    if activation == "relu":
        return [Step("relu", op, node, tensor, "a ReLU")]
    if activation is not None:
        return [Step("activation", op, node, tensor, f"a {activation} activation")]
    if cls == "Add" and len(node.input_tensors) >= 2:
        return [Step("add", op, node, tensor, "an addition")]
    if cls == "Concatenate":
        return [Step("concat", op, node, tensor, "a concatenation")]
    if len(node.input_tensors) >= 2:
        return [Step("merge", op, node, tensor, f"a {cls}")]
    if isinstance(op, layers.Identity) or (
            isinstance(op, layers.Activation) and _activation_name(op) == "linear"):
        return []
    article = "an" if cls[:1] in "AEIOU" else "a"
    return [Step("other", op, node, tensor, f"{article} {cls} layer")]


def linear_chain(tensor, stop):
    """Walk back from ``tensor`` through single-input operations until ``stop``.

    Returns (steps from input to output, the tensor where the walk ended, the tensors
    passed on the way). The walk ends at ``stop``, at a graph input, or at the output
    of an operation with several inputs (an addition, say).
    """
    steps, passed = [], []
    while tensor is not stop:
        op, node = keras_history(tensor)
        if op is None or isinstance(op, layers.InputLayer) or len(node.input_tensors) != 1:
            break
        steps[:0] = steps_of(tensor)
        passed.append(tensor)
        tensor = node.input_tensors[0]
    return steps, tensor, passed


class Subgraph:
    """Every step between ``stops`` (the tensors given to the learner) and ``out``."""

    def __init__(self, out, stops):
        self.steps, self.reached, self.foreign_inputs = [], set(), []
        self.tensors = seen = set()  # ids of every tensor on the way
        todo = [out]
        stop_ids = {id(t) for t in stops}
        while todo:
            tensor = todo.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            if id(tensor) in stop_ids:
                self.reached.add(id(tensor))
                continue
            op, node = keras_history(tensor)
            if op is None or isinstance(op, layers.InputLayer):
                self.foreign_inputs.append(tensor)
                continue
            self.steps.extend(steps_of(tensor))
            todo.extend(node.input_tensors)

    def of_kind(self, kind):
        return [step for step in self.steps if step.kind == kind]


def conv_steps(steps):
    return [step for step in steps if step.kind == "conv"]


def describe_all(steps):
    names = [step.describe for step in steps]
    return ", ".join(names) if names else "nothing"


def output_mistake(out, name):
    if out is None:
        return f"{name} returned None: did you forget to return the result?"
    if isinstance(out, keras.Model):
        return f"{name} should return the output tensor, not a keras.Model."
    if isinstance(out, (list, tuple, dict)):
        return f"{name} should return one tensor, not a {type(out).__name__}."
    if not is_keras_tensor(out):
        return (f"{name} should return a Keras tensor (the output of its last layer), "
                f"not a {type(out).__name__}.")
    return None


def graph_mistake(sub, name, argument="X", per_block=False):
    if sub.foreign_inputs or not sub.reached:
        return (f"{name} must build its layers on the {argument} it receives, not on a new "
                f"keras.Input.")
    return _sharing_mistake(sub.steps, name, per_block)


def _sharing_mistake(steps, name, per_block=False):
    ops, names = {}, {}
    for step in steps:
        if step.fused:
            continue
        ops.setdefault(id(step.op), (step, set()))[1].add(id(step.node))
        names.setdefault(step.op.name, set()).add(id(step.op))
    for step, nodes in ops.values():
        if len(nodes) > 1 and step.op.weights:
            return (f"{name} calls the same {type(step.op).__name__} layer '{step.op.name}' "
                    f"twice: create a new layer for every step, or the two steps share "
                    f"their weights.")
    for layer_name, ids in names.items():
        if len(ids) > 1:
            hint = ("give each block of the stage its own letter (a, b, c, ...)" if per_block
                    else "give every layer its own name (or none at all)")
            return f"two layers are both named '{layer_name}': {hint}."
    return None


def unused_mistake(name, stops, out, local_tensors):
    """A tensor the learner computed from ``stops`` (their inputs) that never reaches
    ``out``, what their function returned; None if there is none.

    ``local_tensors``: (variable name, tensor) pairs of the function's variables when it
    returned. Two cases get words of their own: the function returns too early (a later
    tensor is computed from the one returned), and a tensor is computed but left out.
    """
    used = Subgraph(out, stops).tensors
    stop_ids = {id(t) for t in stops}
    unused = [(var, t) for var, t in local_tensors
              if id(t) not in used and id(t) not in stop_ids and Subgraph(t, stops).reached]
    if not unused:
        return None
    after_out = [(Subgraph(t, [out]), var) for var, t in unused]
    later = [(len(sub.steps), var) for sub, var in after_out if id(out) in sub.reached]
    if later:
        var = max(later)[1]
        returned = next((v for v, t in local_tensors if t is out), None)
        what = f"returns {returned}" if returned else "returns a tensor"
        return with_fix(f"{name} {what} but goes on to compute {var} from it: is what you "
                        f"return the result of your last step?", f"return {var}.")
    var = unused[0][0]
    return (f"{name} computes {var} but never uses it: {var} does not reach the tensor your "
            f"function returns. Where did you mean to use it?")
