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
import math
import os
import pathlib
import platform
import statistics
import sys
import time

from resnet_lab import registry
from resnet_lab.commands import OneLineParser, positive_int, positive_seconds
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
    parser.add_argument("--validation-size", type=positive_int, default=None,
                        help="validation images of the shapes dataset in pipeline mode, "
                             "loaded and not timed (default: one batch); give train's to "
                             "reuse its cached images")
    parser.add_argument("--time-budget", type=positive_seconds, default=None, metavar="SECONDS",
                        help="stop measuring after about this many seconds and report what "
                             "was measured: fewer rounds, or phases and models left out "
                             "(named in the results); compilation counts. Default: no limit")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's dense peak (e.g. 989 for bf16 on an H100/H200): "
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
    if args.validation_size is not None and args.mode != "pipeline":
        parser.error("--validation-size is for --mode pipeline")
    # With --json -, stdout carries the JSON alone and the table goes to stderr.
    report = sys.stderr if args.json == "-" else sys.stdout

    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    header = {"benchmark": "python -m resnet_lab bench",
              "command": "python -m resnet_lab bench " + " ".join(argv), "date": started}

    def save(results, complete):
        """The results so far in --json PATH (atomically): a run stopped from outside
        keeps the phases it finished."""
        if args.json in (None, "-"):
            return
        from resnet_lab.files import write_json_atomically

        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, {**header, **where, **results, "complete": complete})

    where = environment()
    run = synthetic if args.mode == "synthetic" else pipeline
    results = run(args, Budget(args.time_budget), lambda partial: save(partial, False))
    save(results, True)
    print(table({**header, **where, **results}), file=report, flush=True)
    if args.json == "-":
        print(json.dumps({**header, **where, **results, "complete": True}, indent=2),
              flush=True)
    return 0


class Budget:
    """The seconds left of --time-budget (endless without one)."""

    def __init__(self, seconds):
        self.end = None if seconds is None else time.monotonic() + seconds

    def left(self):
        return math.inf if self.end is None else self.end - time.monotonic()

    def allows(self, seconds):
        return self.left() >= seconds


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


def in_memory_batches(batch_size, image_size, classes, seed, dtype="float32"):
    """An endless source of one fixed batch, already where the backend computes.

    TensorFlow gets a ``tf.data`` dataset that repeats one tensor (no decoding, no
    augmentation); the other backends get a generator that yields the same device
    array each time (no host-to-device copy per step). ``dtype``: the images' (values
    0 to 255), e.g. the input pipeline's uint8, so that a model fed by both compiles
    its step once.
    """
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(dtype)
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


def synthetic(args, budget, save):
    """Each phase (training, then inference): both models warmed up (compiled), then
    rounds in which they take turns, as many as ``--repeats`` asks and the budget allows."""
    policy, jit_compile, spe = _settings(args, args.steps)
    # Every call then runs whole executions of steps_per_execution steps.
    steps, warmup = _round_up(args.steps, spe), _round_up(args.warmup, spe)
    models, build_seconds = compiled_models(args.models, args, policy, jit_compile, spe)
    source = in_memory_batches(args.batch_size, args.image_size, args.classes, args.seed)
    phases = [phase for phase, wanted in (("training", args.training),
                                          ("inference", args.inference)) if wanted]
    run = {"models": models, "build_seconds": build_seconds, "policy": policy,
           "steps": steps, "warmup": warmup, "spe": spe, "stopped": [],
           "warmup_seconds": {name: {} for name in models},
           "rates": {name: {} for name in models}}
    for phase in phases:
        warmed = []
        for name, model in models.items():
            # A model's first calls cost about what the previous model's did.
            expected = max([run["warmup_seconds"][other][phase] for other in warmed],
                           default=0)
            if not budget.allows(expected) or budget.left() <= 0:
                run["stopped"].append(
                    f"{phase} of {MODEL_NAMES[name]} not measured: "
                    + (f"{budget.left():.0f} s of the time budget left, its warm-up would "
                       f"take about {expected:.0f} s" if budget.left() > 0
                       else "the time budget was spent"))
                continue
            run["warmup_seconds"][name][phase] = run_steps(model, phase, source, warmup)
            run["rates"][name][phase] = []
            warmed.append(name)
        round_seconds = 0
        # The first round whatever the budget says: the compilation is paid already.
        for round_index in range(args.repeats if warmed else 0):
            if round_index and not budget.allows(round_seconds):
                run["stopped"].append(f"{phase}: {round_index} of {args.repeats} rounds "
                                      f"in the time budget")
                break
            begin = time.perf_counter()
            for name in warmed if round_index % 2 == 0 else warmed[::-1]:
                rate, _ = throughput(models[name], phase, source, steps, args.batch_size, spe)
                run["rates"][name][phase].append(rate)
            round_seconds = time.perf_counter() - begin
        save(_synthetic_results(args, run))
    return _synthetic_results(args, run)


def _synthetic_results(args, run):
    """The record of a synthetic run: the phases measured so far, for each model."""
    import keras

    pixels = (args.image_size / 224) ** 2
    results = {}
    for name, model in run["models"].items():
        entry = {"model": MODEL_NAMES[name], "parameters": model.count_params(),
                 "build_seconds": round(run["build_seconds"][name], 2)}
        for phase, runs in run["rates"][name].items():
            if not runs:
                continue
            entry[phase] = {
                "images_per_second": statistics.median(runs),
                "runs": runs,
                "best": max(runs),
                "spread": (max(runs) - min(runs)) / statistics.median(runs),
                "step_ms": 1000 * args.batch_size / statistics.median(runs),
                "warmup_seconds": round(run["warmup_seconds"][name][phase], 2),
            }
        if "training" in entry:
            tflops = entry["training"]["images_per_second"] * TRAIN_GFLOP_224 * pixels / 1e3
            entry["training"]["model_tflops"] = tflops
            if args.peak_tflops:
                entry["training"]["ceiling_fraction"] = tflops / args.peak_tflops
        results[name] = entry

    ratio, paired = {}, {}
    if {"ours", "keras"} <= set(results):
        ours, theirs = results["ours"], results["keras"]
        both = [phase for phase in ("training", "inference")
                if phase in ours and phase in theirs]
        ratio = {phase: ours[phase]["images_per_second"] / theirs[phase]["images_per_second"]
                 for phase in both}
        # Each round's two runs are neighbours in time: their ratio cancels slow drifts
        # (a neighbour's load, clocks) that the ratio of the medians keeps.
        paired = {phase: [o / k for o, k in zip(ours[phase]["runs"], theirs[phase]["runs"],
                                                   strict=True)]
                  for phase in both}
    first = next(iter(run["models"].values()))
    return {
        "mode": "synthetic",
        "precision": run["policy"],
        "xla": bool(first.jit_compile),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "steps": run["steps"],
        "warmup_steps": run["warmup"],
        "repeats": args.repeats,
        "steps_per_execution": run["spe"],
        "classes": args.classes,
        "optimizer": args.optimizer,
        "peak_tflops": args.peak_tflops,
        "time_budget": args.time_budget,
        "stopped": run["stopped"],
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
                 "scaled by pixels; stopped: what the time budget left out",
        "keras_config": {"image_data_format": keras.config.image_data_format()},
    }


# --- the input pipeline -------------------------------------------------------------

def pipeline(args, budget, save):
    """The shapes batches alone, the augmentation alone, then both feeding the model;
    each part as the budget allows."""
    import keras

    from resnet_lab.augment import augmentation
    from resnet_lab.config import RunConfig
    from resnet_lab.data import load_dataset, pipeline_throughput
    from resnet_lab.training import build_model

    policy, jit_compile, spe = _settings(args, args.steps)
    start = time.perf_counter()
    try:
        splits = load_dataset("shapes", args.image_size, args.batch_size,
                              train_size=args.train_size,
                              validation_size=args.validation_size or args.batch_size,
                              seed=args.seed)
    except ValueError as error:
        raise SystemExit(f"python -m resnet_lab bench: error: {error}") from None
    steps = _round_up(args.steps, spe)
    warmup = _round_up(args.warmup, spe)
    record = {"mode": "pipeline", "model": args.model, "dataset": "shapes",
              "train_size": args.train_size,
              "load_seconds": round(time.perf_counter() - start, 2),
              "precision": policy, "image_size": args.image_size,
              "batch_size": args.batch_size, "steps": steps, "warmup_steps": warmup,
              "repeats": args.repeats, "steps_per_execution": spe,
              "time_budget": args.time_budget, "stopped": [],
              "notes": "pipeline_alone: the host's batches (uint8, shuffled) with no model; "
                       "augmentation_on_device: the training augmentation alone, compiled "
                       "like the model; training_*: the recipe's model with that "
                       "augmentation inside, fed uint8 images from the pipeline or from "
                       "memory (one compiled step for both); stopped: what the time "
                       "budget left out"}
    median = statistics.median

    def rounds(measure):
        """``measure()`` up to --repeats times, while the budget allows another (the
        first whatever it says: its compilation is paid already)."""
        runs, seconds = [], 0
        for index in range(args.repeats):
            if index and not budget.allows(seconds):
                record["stopped"].append(f"{index} of {args.repeats} rounds in the time "
                                         f"budget")
                break
            begin = time.perf_counter()
            runs.append(measure())
            seconds = time.perf_counter() - begin
        return runs

    host = rounds(lambda: pipeline_throughput(splits.train, steps))
    record["pipeline_alone"] = {"images_per_second": median(host), "runs": host}
    save(record)

    augment = augmentation("shift", seed=args.seed)
    batch = keras.ops.convert_to_tensor(splits.train[0][0])
    compiled = _compiled_augmentation(augment, jit_compile)
    keras.ops.convert_to_numpy(compiled(batch))  # traces and compiles

    def on_device():
        begin = time.perf_counter()
        for _ in range(steps):
            out = compiled(batch)
        keras.ops.convert_to_numpy(out[:1, :1, :1])  # waits for the device
        return steps * args.batch_size / (time.perf_counter() - begin)

    runs = rounds(on_device)
    record["augmentation_on_device"] = {"images_per_second": median(runs), "runs": runs}
    save(record)

    config = RunConfig(model=args.model, dataset="shapes", image_size=args.image_size,
                       batch_size=args.batch_size, epochs=100, precision=policy,
                       seed=args.seed, train_size=args.train_size,
                       augment=True)  # the model's first layer, as on photos
    model = build_model(config, num_classes=len(splits.class_names), steps_per_epoch=steps,
                        steps_per_execution=spe, jit_compile=jit_compile)
    record.update(precision=model.dtype_policy.name, xla=bool(model.jit_compile))

    def feeding():  # the batches, round and round, as fit reads a PyDataset
        for index in range(10**9):
            yield splits.train[index % len(splits.train)]

    # The pipeline's dtypes (uint8 images, float32 one-hot labels): the same compiled
    # step serves both sources.
    in_memory = in_memory_batches(args.batch_size, args.image_size, len(splits.class_names),
                                  args.seed, dtype=splits.train[0][0].dtype)
    if budget.left() <= 0:
        record["stopped"].append("training not measured: the time budget was spent")
        return record
    warm = run_steps(model, "training", feeding, warmup)
    record["training_from_pipeline"] = {"warmup_seconds": round(warm, 2)}
    warm_in_memory = run_steps(model, "training", in_memory, warmup)
    fed, from_memory = [], []

    def both():  # interleaved, like the synthetic mode
        for rates, source in ((fed, feeding), (from_memory, in_memory)):
            rates.append(throughput(model, "training", source, steps, args.batch_size, spe)[0])

    rounds(both)
    record["training_from_pipeline"].update(images_per_second=median(fed), runs=fed)
    record["training_in_memory"] = {"images_per_second": median(from_memory),
                                    "runs": from_memory,
                                    "warmup_seconds": round(warm_in_memory, 2)}
    record["ratio_pipeline_to_in_memory"] = median(fed) / median(from_memory)
    record["ratio_pipeline_alone_to_training"] = median(host) / median(fed)
    return record


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
    if not entry or "runs" not in entry:
        return "not measured"
    runs = entry["runs"]
    return f"{entry['images_per_second']:9.1f} [{min(runs):.1f}-{max(runs):.1f}]"


def _warmup(entry):
    return f"{entry['warmup_seconds']:.1f}" if entry else "-"


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
                  if any(p in entry for entry in results["models"].values())]
        header = f"{'model':<30}" + "".join(f"{p + ' img/s':>28}{'warm-up s':>11}"
                                             for p in phases)
        lines.append(header)
        for entry in results["models"].values():
            lines.append(f"{entry['model']:<30}" + "".join(
                f"{_rate(entry.get(p)):>28}{_warmup(entry.get(p)):>11}" for p in phases))
        ratios, paired = results["ratio_ours_to_keras"], results["ratio_ours_to_keras_paired"]
        if ratios:
            lines.append(f"{'ratio ours / keras.applications':<30}" + "".join(
                f"{ratios[p]:>28.3f}{'':>11}" if p in ratios else f"{'-':>28}{'':>11}"
                for p in phases))
            lines.append(f"{'  same, paired by round':<30}" + "".join(
                f"{_ratio(paired[p]):>28}{'':>11}" if p in paired else f"{'-':>28}{'':>11}"
                for p in phases))
        for entry in results["models"].values():
            training = entry.get("training", {})
            if "ceiling_fraction" in training:
                lines.append(f"{entry['model']}: {training['model_tflops']:.0f} TFLOP/s of "
                             f"model work, {100 * training['ceiling_fraction']:.1f}% of "
                             f"{results['peak_tflops']:g} TFLOP/s")
    else:
        lines += [
            f"{'shapes batches alone (host)':<36}{_rate(results.get('pipeline_alone')):>28}",
            f"{'augmentation alone (device)':<36}"
            f"{_rate(results.get('augmentation_on_device')):>28}",
            f"{'training fed by the pipeline':<36}"
            f"{_rate(results.get('training_from_pipeline')):>28}",
            f"{'training on in-memory data':<36}"
            f"{_rate(results.get('training_in_memory')):>28}",
        ]
        if "ratio_pipeline_to_in_memory" in results:
            lines += [f"{'ratio pipeline-fed / in-memory':<36}"
                      f"{results['ratio_pipeline_to_in_memory']:>28.3f}",
                      f"{'ratio host batches / training':<36}"
                      f"{results['ratio_pipeline_alone_to_training']:>28.1f}"]
    lines += [f"stopped by the time budget ({results['time_budget']:g} s): {reason}"
              for reason in results.get("stopped", [])]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
