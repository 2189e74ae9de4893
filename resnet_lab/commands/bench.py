"""python -m resnet_lab bench: how fast does ResNet-50 train and predict here?

Two modes:

- ``synthetic`` (the default) times our ``resnet_lab.ResNet50`` and
  ``keras.applications.ResNet50`` in the same process, on the same in-memory batch,
  with the same compile settings (the training recipe's optimizer, loss, precision
  policy, XLA setting and steps per execution), so the input pipeline is not
  measured. The two models take turns in rounds (the order flips every round), so a
  neighbour's load or a clock change affects both alike. Tracing/compilation is timed
  apart from the steady state, and the figures are medians over the rounds. It uses
  Keras APIs only, so it runs under any Keras backend (TensorFlow here and on Colab,
  ``KERAS_BACKEND=jax`` on the GPU machine).
- ``pipeline`` times the real input path of the offline ``shapes`` dataset
  (``resnet_lab.data.load_dataset``: cached uint8 images, shuffled and batched on the
  host) alone, the augmentation alone on the device, then the training recipe's model
  (augmentation included) fed by the batches, next to the same model on in-memory data.
  On any backend.

Arguments are checked before Keras is imported, so a mistake gets one line and exit
code 2 at once. Results: one table on stdout, and with ``--json PATH`` (``-`` for
stdout, the table then goes to stderr) a JSON record of the run. benchmarks/README.md
holds the figures measured so far and how to reproduce them.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import statistics
import sys
import time

from resnet_lab import registry
from resnet_lab.commands import OneLineParser, positive_int
from resnet_lab.config import MODELS, PRECISIONS

MODES = ("synthetic", "pipeline")
# Synthetic mode compares ResNet-50 with its keras.applications twin, by their builders.
RESNET50 = registry.MODELS["resnet50"]
MODEL_NAMES = {"ours": "resnet_lab." + RESNET50.builder.rpartition(":")[2],  # exported there
               "keras": RESNET50.twin}
XLA_CHOICES = ("auto", "on", "off")
OPTIMIZERS = ("recipe", "sgd")
# ResNet-50 v1 forward pass: 3.86 GMAC at 224x224, so about 3 x 2 x 3.86 = 23.2 GFLOP
# per training image (forward, and a backward pass twice as costly). Conv work scales
# with the number of pixels.
TRAIN_GFLOP_224 = 3 * 2 * 3.86


def _model_list(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(MODEL_NAMES)}, got {text!r}")
    return list(dict.fromkeys(names))


def _steps_per_execution(text):
    return text if text == "auto" else positive_int(text)


def _parser():
    parser = OneLineParser(
        prog="python -m resnet_lab bench",
        description="Training and inference throughput of ResNet-50: ours and "
                    "keras.applications side by side (synthetic), or the input "
                    "pipeline feeding the training recipe (pipeline).")
    parser.add_argument("--mode", choices=MODES, default="synthetic",
                        help="synthetic: in-memory data, both models (default); "
                             "pipeline: the shapes dataset's batches feeding our model")
    parser.add_argument("--image-size", type=positive_int, default=224)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--steps", type=positive_int, default=20,
                        help="timed steps per model per round (default 20)")
    parser.add_argument("--warmup", type=positive_int, default=2,
                        help="untimed-for-throughput steps first; they include tracing "
                             "and compilation, reported apart (default 2)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="rounds; figures are medians over them (default 3)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="dtype policy; auto: the recipe's choice for this device")
    parser.add_argument("--xla", choices=XLA_CHOICES, default="auto",
                        help="jit_compile; auto: Keras' choice (on for GPUs and JAX, "
                             "off for TensorFlow on CPUs)")
    parser.add_argument("--steps-per-execution", type=_steps_per_execution, default="auto",
                        help="steps per compiled call; auto: the recipe's choice "
                             "(1 on CPUs, up to 16 on accelerators)")
    parser.add_argument("--models", type=_model_list, default=list(MODEL_NAMES),
                        help="comma-separated: ours, keras (default both)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="recipe",
                        help="recipe: the training recipe's AdamW with its schedule and "
                             "weight decay (default); sgd: plain SGD, cheaper to trace")
    parser.add_argument("--classes", type=positive_int, default=1000,
                        help="classifier width in synthetic mode (default 1000)")
    parser.add_argument("--no-training", dest="training", action="store_false",
                        help="skip the training measurement")
    parser.add_argument("--no-inference", dest="inference", action="store_false",
                        help="skip the inference measurement")
    parser.add_argument("--model", choices=MODELS, default="resnet50",
                        help="the recipe's model that the pipeline feeds (pipeline mode; "
                             "default resnet50)")
    parser.add_argument("--train-size", type=positive_int, default=1024,
                        help="images of the shapes dataset in pipeline mode (default 1024)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's dense peak (e.g. 790 for bf16 on an H100/H200): "
                             "adds the fraction of the compute ceiling to the results")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the results as JSON to PATH ('-': stdout)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        registry.check_image_size(args.model, args.image_size)
    except ValueError as error:
        parser.error(f"--{error}".replace("image_size", "image-size", 1))
    if args.model != "resnet50" and args.mode != "pipeline":
        parser.error("--model is for --mode pipeline; synthetic mode compares ResNet-50s")
    if not (args.training or args.inference):
        parser.error("--no-training and --no-inference together leave nothing to measure")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error(f"--peak-tflops must be positive; got {args.peak_tflops}")
    if args.json not in (None, "-") and pathlib.Path(args.json).is_dir():
        parser.error(f"--json {args.json} is a folder; give a file name")
    # With --json -, stdout carries the JSON alone and the table goes to stderr.
    report = sys.stderr if args.json == "-" else sys.stdout

    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    run = synthetic if args.mode == "synthetic" else pipeline
    results = run(args)
    results = {"benchmark": "python -m resnet_lab bench",
               "command": "python -m resnet_lab bench " + " ".join(argv),
               "date": started, **environment(), **results}
    print(table(results), file=report, flush=True)
    if args.json == "-":
        print(json.dumps(results, indent=2), flush=True)
    elif args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


# --- where it runs --------------------------------------------------------------------

def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment():
    """Device, backend and versions, without importing frameworks the backend does not use."""
    import keras

    from resnet_lab.env import accelerator

    kind, name, _ = accelerator()
    if kind == "cpu":
        name = f"{_cpu_model()} ({os.cpu_count()} logical cores)"
    tensorflow = _version("tensorflow") or _version("tensorflow-cpu")
    return {
        "device": {"kind": kind, "name": name},
        "backend": keras.backend.backend(),
        "versions": {"python": platform.python_version(), "keras": keras.__version__,
                     "tensorflow": tensorflow, "jax": _version("jax"),
                     "jaxlib": _version("jaxlib"), "numpy": _version("numpy"),
                     "resnet_lab": __import__("resnet_lab").__version__},
    }


def _cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


# --- synthetic data, both models --------------------------------------------------------

def compiled_models(names, args, policy, jit_compile, steps_per_execution):
    """Each named model, built and compiled by the training recipe's ``build_model``.

    Only the backbone differs (``backbone=keras.applications.ResNet50`` for theirs);
    both start without the recipe's zero-initialised residual branches, whose layer
    names only our network has, and without augmentation, so that they compute the
    same graph.
    """
    import keras

    from resnet_lab.config import RunConfig
    from resnet_lab.training import build_model

    backbones = {"ours": RESNET50.build_function(), "keras": keras.applications.ResNet50}
    config = RunConfig(model="resnet50", image_size=args.image_size, batch_size=args.batch_size,
                       epochs=100, precision=policy, augment=False, zero_init_residual=False,
                       seed=args.seed, train_size=max(args.batch_size, 4000))
    models, build_seconds = {}, {}
    for name in names:
        start = time.perf_counter()
        optimizer = (None if args.optimizer == "recipe"
                     else keras.optimizers.SGD(0.01, momentum=0.9))
        models[name] = build_model(
            config, num_classes=args.classes, steps_per_epoch=args.steps,
            backbone=backbones[name], steps_per_execution=steps_per_execution,
            jit_compile=jit_compile, optimizer=optimizer)
        build_seconds[name] = time.perf_counter() - start
    return models, build_seconds


def in_memory_batches(batch_size, image_size, classes, seed):
    """An endless source of one fixed batch, already where the backend computes.

    TensorFlow gets a ``tf.data`` dataset that repeats one tensor (no decoding, no
    augmentation); the other backends get a generator that yields the same device
    array each time (no host-to-device copy per step).
    """
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype("float32")
    labels = np.eye(classes, dtype="float32")[rng.integers(0, classes, batch_size)]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return lambda: tf.data.Dataset.from_tensors((images, labels)).repeat()
    images, labels = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)

    def forever():
        while True:
            yield images, labels

    return forever


def _clock():
    """A callback that notes the time at the end of each execution of steps.

    Keras hands a callback that is not ``async_safe`` its logs converted to Python
    numbers, which waits for the device: each time is taken after the work is done,
    also under JAX's asynchronous dispatch.
    """
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

        on_predict_batch_end = on_train_batch_end

    return Clock()


def run_steps(model, phase, source, steps, callbacks=()):
    """Seconds that ``steps`` training or inference steps take, start-up included."""
    start = time.perf_counter()
    if phase == "training":
        model.fit(source(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                  callbacks=list(callbacks))
    else:
        model.predict(source(), steps=steps, verbose=0, callbacks=list(callbacks))
    return time.perf_counter() - start


def throughput(model, phase, source, steps, batch_size, spe):
    """(images/second over ``steps`` steps, seconds of the whole call).

    The call runs one execution (``spe`` steps) more than it times: the clock starts
    when that first execution ends, so the call's start-up (iterator, callbacks) and
    the end of the previous call are left out.
    """
    clock = _clock()
    seconds = run_steps(model, phase, source, steps + spe, [clock])
    timed_steps = (len(clock.times) - 1) * spe
    return timed_steps * batch_size / (clock.times[-1] - clock.times[0]), seconds


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def _settings(args, steps_hint):
    import keras

    from resnet_lab.training import choose_steps_per_execution, precision_for_device

    policy = precision_for_device() if args.precision == "auto" else args.precision
    jit_compile = {"auto": "auto", "on": True, "off": False}[args.xla]
    spe = choose_steps_per_execution(args.steps_per_execution, steps_hint)
    if jit_compile is False and keras.backend.backend() == "jax":
        print("note: --xla off under JAX runs every step eagerly (very slow)", file=sys.stderr)
    return policy, jit_compile, spe


def synthetic(args):
    import keras

    policy, jit_compile, spe = _settings(args, args.steps)
    # Every call then runs whole executions of steps_per_execution steps.
    steps, warmup = _round_up(args.steps, spe), _round_up(args.warmup, spe)
    models, build_seconds = compiled_models(args.models, args, policy, jit_compile, spe)
    source = in_memory_batches(args.batch_size, args.image_size, args.classes, args.seed)
    phases = [phase for phase, wanted in (("training", args.training),
                                          ("inference", args.inference)) if wanted]
    warmup_seconds = {name: {} for name in models}
    for name, model in models.items():
        for phase in phases:
            warmup_seconds[name][phase] = run_steps(model, phase, source, warmup)

    rates = {name: {phase: [] for phase in phases} for name in models}
    order = list(models)
    for round_index in range(args.repeats):
        for phase in phases:  # the models back to back, first one first, then the other
            for name in order if round_index % 2 == 0 else order[::-1]:
                rate, _ = throughput(models[name], phase, source, steps,
                                     args.batch_size, spe)
                rates[name][phase].append(rate)

    pixels = (args.image_size / 224) ** 2
    results = {}
    for name, model in models.items():
        entry = {"model": MODEL_NAMES[name], "parameters": model.count_params(),
                 "build_seconds": round(build_seconds[name], 2)}
        for phase in phases:
            runs = rates[name][phase]
            entry[phase] = {
                "images_per_second": statistics.median(runs),
                "runs": runs,
                "best": max(runs),
                "spread": (max(runs) - min(runs)) / statistics.median(runs),
                "step_ms": 1000 * args.batch_size / statistics.median(runs),
                "warmup_seconds": round(warmup_seconds[name][phase], 2),
            }
        if "training" in phases:
            tflops = entry["training"]["images_per_second"] * TRAIN_GFLOP_224 * pixels / 1e3
            entry["training"]["model_tflops"] = tflops
            if args.peak_tflops:
                entry["training"]["ceiling_fraction"] = tflops / args.peak_tflops
        results[name] = entry

    ratio, paired = {}, {}
    if {"ours", "keras"} <= set(models):
        ratio = {phase: results["ours"][phase]["images_per_second"]
                 / results["keras"][phase]["images_per_second"] for phase in phases}
        # Each round's two runs are neighbours in time: their ratio cancels slow drifts
        # (a neighbour's load, clocks) that the ratio of the medians keeps.
        paired = {phase: [o / k for o, k in zip(rates["ours"][phase], rates["keras"][phase],
                                                strict=True)] for phase in phases}
    first = next(iter(models.values()))
    return {
        "mode": "synthetic",
        "precision": policy,
        "xla": bool(first.jit_compile),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "repeats": args.repeats,
        "steps_per_execution": spe,
        "classes": args.classes,
        "optimizer": args.optimizer,
        "peak_tflops": args.peak_tflops,
        "models": results,
        "ratio_ours_to_keras": ratio,
        "ratio_ours_to_keras_paired": {
            phase: {"median": statistics.median(values), "min": min(values),
                    "max": max(values), "runs": values} for phase, values in paired.items()},
        "notes": "images/second are medians over the repeats; best: the highest; "
                 "spread = (max - min) / median; ratio_ours_to_keras: of the medians; "
                 "..._paired: ours / keras.applications in each round (back-to-back "
                 "runs); warmup_seconds include tracing/compilation; model_tflops "
                 f"counts {TRAIN_GFLOP_224:.1f} GFLOP per training image at 224x224, "
                 "scaled by pixels",
        "keras_config": {"image_data_format": keras.config.image_data_format()},
    }


# --- the input pipeline -------------------------------------------------------------

def pipeline(args):
    """The shapes batches alone, the augmentation alone, then both feeding the model."""
    import keras

    from resnet_lab.augment import augmentation
    from resnet_lab.config import RunConfig
    from resnet_lab.data import load_dataset, pipeline_throughput
    from resnet_lab.training import build_model

    policy, jit_compile, spe = _settings(args, args.steps)
    start = time.perf_counter()
    try:
        splits = load_dataset("shapes", args.image_size, args.batch_size,
                              train_size=args.train_size, validation_size=args.batch_size,
                              seed=args.seed)
    except ValueError as error:
        raise SystemExit(f"python -m resnet_lab bench: error: {error}") from None
    load_seconds = time.perf_counter() - start
    steps = _round_up(args.steps, spe)
    warmup = _round_up(args.warmup, spe)

    host = [pipeline_throughput(splits.train, steps) for _ in range(args.repeats)]
    augment = augmentation("shift", seed=args.seed)
    batch = keras.ops.convert_to_tensor(splits.train[0][0])
    compiled = _compiled_augmentation(augment, jit_compile)
    keras.ops.convert_to_numpy(compiled(batch))  # traces and compiles
    on_device = []
    for _ in range(args.repeats):
        begin = time.perf_counter()
        for _ in range(steps):
            out = compiled(batch)
        keras.ops.convert_to_numpy(out[:1, :1, :1])  # waits for the device
        on_device.append(steps * args.batch_size / (time.perf_counter() - begin))

    config = RunConfig(model=args.model, dataset="shapes", image_size=args.image_size,
                       batch_size=args.batch_size, epochs=100, precision=policy,
                       seed=args.seed, train_size=args.train_size,
                       augment=True)  # the model's first layer, as on photos
    model = build_model(config, num_classes=len(splits.class_names), steps_per_epoch=steps,
                        steps_per_execution=spe, jit_compile=jit_compile)

    def feeding():  # the batches, round and round, as fit reads a PyDataset
        for index in range(10**9):
            yield splits.train[index % len(splits.train)]

    in_memory = in_memory_batches(args.batch_size, args.image_size, len(splits.class_names),
                                  args.seed)
    warm = {"pipeline": run_steps(model, "training", feeding, warmup),
            "in_memory": run_steps(model, "training", in_memory, warmup)}
    fed, from_memory = [], []
    for _ in range(args.repeats):  # interleaved, like the synthetic mode
        for rates, source in ((fed, feeding), (from_memory, in_memory)):
            rates.append(throughput(model, "training", source, steps, args.batch_size, spe)[0])
    median = statistics.median
    return {
        "mode": "pipeline",
        "model": args.model,
        "dataset": "shapes",
        "train_size": args.train_size,
        "load_seconds": round(load_seconds, 2),
        "precision": model.dtype_policy.name,
        "xla": bool(model.jit_compile),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "repeats": args.repeats,
        "steps_per_execution": spe,
        "pipeline_alone": {"images_per_second": median(host), "runs": host},
        "augmentation_on_device": {"images_per_second": median(on_device), "runs": on_device},
        "training_from_pipeline": {"images_per_second": median(fed), "runs": fed,
                                   "warmup_seconds": round(warm["pipeline"], 2)},
        "training_in_memory": {"images_per_second": median(from_memory),
                               "runs": from_memory,
                               "warmup_seconds": round(warm["in_memory"], 2)},
        "ratio_pipeline_to_in_memory": median(fed) / median(from_memory),
        "ratio_pipeline_alone_to_training": median(host) / median(fed),
        "notes": "pipeline_alone: the host's batches (uint8, shuffled) with no model; "
                 "augmentation_on_device: the training augmentation alone, compiled like "
                 "the model; training_*: the recipe's model with that augmentation inside",
    }


def _compiled_augmentation(layer, jit_compile):
    """The augmentation as one compiled call on the backend, as the training step runs it."""
    import keras

    def call(images):
        return layer(images, training=True)

    backend = keras.backend.backend()
    xla = jit_compile is True or (jit_compile == "auto" and _on_accelerator())
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(call, jit_compile=xla)
    if backend == "jax":
        import jax

        state = layer.seed_generator.state

        def stateless(seed, images):  # JAX: the random state goes in and out explicitly
            with keras.StatelessScope(state_mapping=[(state, seed)]) as scope:
                out = call(images)
            return out, scope.get_current_value(state)

        step = jax.jit(stateless)

        def run(images):
            out, new_state = step(state.value, images)
            state.assign(new_state)
            return out

        return run
    return call


def _on_accelerator():
    from resnet_lab.env import accelerator

    return accelerator().kind != "cpu"


# --- the table ------------------------------------------------------------------------

def _rate(entry):
    runs = entry["runs"]
    return f"{entry['images_per_second']:9.1f} [{min(runs):.1f}-{max(runs):.1f}]"


def _ratio(entry):
    return f"{entry['median']:.3f} [{entry['min']:.3f}-{entry['max']:.3f}]"


def table(results):
    """The results as a few aligned lines a person can read and paste."""
    versions = results["versions"]
    shown = ("keras", {"tensorflow": "tensorflow", "jax": "jax"}.get(results["backend"]))
    frameworks = ", ".join(f"{name} {versions[name]}" for name in shown if versions.get(name))
    lines = [
        f"{'ResNet-50' if results.get('model', 'resnet50') == 'resnet50' else results['model']}"
        f" throughput ({results['mode']} data) on {results['device']['kind']}: "
        f"{results['device']['name']}",
        f"backend {results['backend']} ({frameworks}), {results['precision']}, "
        f"XLA {'on' if results['xla'] else 'off'}, {results['image_size']}x"
        f"{results['image_size']}, batch {results['batch_size']}, {results['steps']} steps "
        f"x {results['repeats']} rounds after {results['warmup_steps']} warm-up, "
        f"{results['steps_per_execution']} step(s) per execution"
        + (f", optimizer {results['optimizer']}" if "optimizer" in results else ""),
        "images/second: median [min-max] over the rounds; warm-up includes tracing",
        "",
    ]
    if results["mode"] == "synthetic":
        phases = [p for p in ("training", "inference")
                  if p in next(iter(results["models"].values()))]
        header = f"{'model':<30}" + "".join(f"{p + ' img/s':>28}{'warm-up s':>11}"
                                             for p in phases)
        lines.append(header)
        for entry in results["models"].values():
            lines.append(f"{entry['model']:<30}" + "".join(
                f"{_rate(entry[p]):>28}{entry[p]['warmup_seconds']:>11.1f}" for p in phases))
        if results["ratio_ours_to_keras"]:
            lines.append(f"{'ratio ours / keras.applications':<30}" + "".join(
                f"{results['ratio_ours_to_keras'][p]:>28.3f}{'':>11}" for p in phases))
            paired = results["ratio_ours_to_keras_paired"]
            lines.append(f"{'  same, paired by round':<30}" + "".join(
                f"{_ratio(paired[p]):>28}{'':>11}" for p in phases))
        for entry in results["models"].values():
            training = entry.get("training", {})
            if "ceiling_fraction" in training:
                lines.append(f"{entry['model']}: {training['model_tflops']:.0f} TFLOP/s of "
                             f"model work, {100 * training['ceiling_fraction']:.1f}% of "
                             f"{results['peak_tflops']:g} TFLOP/s")
    else:
        lines += [
            f"{'shapes batches alone (host)':<36}{_rate(results['pipeline_alone']):>28}",
            f"{'augmentation alone (device)':<36}"
            f"{_rate(results['augmentation_on_device']):>28}",
            f"{'training fed by the pipeline':<36}"
            f"{_rate(results['training_from_pipeline']):>28}",
            f"{'training on in-memory data':<36}{_rate(results['training_in_memory']):>28}",
            f"{'ratio pipeline-fed / in-memory':<36}"
            f"{results['ratio_pipeline_to_in_memory']:>28.3f}",
            f"{'ratio host batches / training':<36}"
            f"{results['ratio_pipeline_alone_to_training']:>28.1f}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
