"""Training ResNet-50 from scratch: one function builds and compiles, one fits.

    python -m resnet_lab train --dataset shapes --epochs 5 --image-size 32 --out runs/shapes

(the command line is resnet_lab/commands/train.py). A run's settings are one
``resnet_lab.config.RunConfig``: ``train(config, out)`` loads the data, builds the model
and fits it; ``build_model(config, splits)`` and ``fit(..., config=config)`` are the
steps, for the notebooks. The device comes from ``resnet_lab.env.accelerator()``, the
models from ``resnet_lab.registry``.

The recipe, and why:

- **augmentation on the accelerator**, inside the model's training step
  (``resnet_lab.augment``): a random resized crop and flip for Imagenette, a flip and
  shift for CIFAR-10. The host only shuffles and batches, so it keeps up with a GPU.
  The generated shapes get none unless asked (``augment=True``): each image is new,
  and more of them cost nothing.

- **precision** for the device: bfloat16 on A100/L4/H100-class GPUs and TPUs, float16
  on older GPUs (T4, V100), float32 on CPUs; the softmax always in float32.
- **XLA** (``jit_compile="auto"``): Keras turns it on for one GPU, off for CPUs (where it
  was 2.2x slower on one of our CPUs and 2.5x faster on another) and under
  tf.distribute over several GPUs.
- **AdamW**, peak learning rate 2e-3 at batch 32, times sqrt(batch / 32) up to 4e-3,
  a linear **warm-up** over the first tenth of the run (at most 5 epochs), then
  **cosine** decay, **label smoothing** 0.1 and decoupled **weight decay** 0.05 on
  the kernels (not on BatchNorm or biases). SGD with momentum is the classic choice
  for 90-epoch ImageNet runs; in the few epochs of a course run it barely moved in our
  trials, where AdamW learns from the first epoch.
- **zero-initialised residual branches**: the last BatchNorm of each block starts
  with scale 0 (each block marks it: ``blocks.branch_end_batchnorm``), so every identity
  block starts as the identity (lesson 1) and every convolutional block as its
  projection shortcut.
- **BatchNorm momentum 0.9** (PyTorch's default) instead of Keras' 0.99: with 0.99
  the moving statistics lag behind the weights for hundreds of steps, and a short run
  that looks good in training fails in inference mode.
- **Callbacks**: BackupAndRestore (a re-run with the same ``out`` resumes from the
  last finished epoch), the best model by validation accuracy (``best.keras``,
  written atomically), a CSV log (one row per finished epoch), optional TensorBoard,
  a NaN guard, and images/second per epoch.
- **Scale out**: with TensorFlow, ``tf.distribute`` (MirroredStrategy for several GPUs,
  TPUStrategy on a TPU), with BatchNorm synchronised over the replicas (every replica
  keeps the same moving statistics, so the saved model is the one evaluated) and an
  augmentation stream per replica; with JAX, ``keras.distribution.DataParallel`` over
  every visible device when there are several. ``train(config, out, strategy=...)``
  chooses the devices.
- **Saved models load anywhere**: ``best.keras`` and ``final.keras`` hold the network
  for inference (no augmentation layer, no optimizer), so ``keras.saving.load_model``
  reads them with Keras alone; the optimizer's state for resuming is in ``backup/``.
"""

import contextlib
import csv
import io
import json
import math
import pathlib
import sys
import time

import keras
import numpy as np

from resnet_lab import registry
from resnet_lab.analysis import all_layers
from resnet_lab.blocks import zero_init_residual
from resnet_lab.config import ConfigError, RunConfig, check_run_folder
from resnet_lab.env import accelerator, accelerators, finished_with, tpu_address
from resnet_lab.files import write_atomically, write_json_atomically

# --- the device ----------------------------------------------------------------------

def precision_for_device():
    """The dtype policy that is fastest and safe on this device."""
    kind, _, major = accelerator()
    if kind == "tpu" or (kind == "gpu" and major and major >= 8):
        return "mixed_bfloat16"  # Ampere and newer, TPUs: no loss scaling needed
    if kind == "gpu":
        return "mixed_float16"  # Volta/Turing tensor cores; Keras adds loss scaling
    return "float32"


def choose_strategy():
    """A tf.distribute strategy for the visible devices (None on other backends).

    Under JAX with several devices visible, it sets Keras' distribution to
    ``keras.distribution.DataParallel`` instead (each batch split over the devices),
    unless a distribution is set already.
    """
    if keras.backend.backend() == "jax":
        import jax

        if len(jax.devices()) > 1 and keras.distribution.distribution() is None:
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        return None
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    devices = accelerators()
    if devices and devices[0].kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu_address() or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# Keras' distributions, for JAX (it exports no common base class).
DISTRIBUTIONS = (keras.distribution.DataParallel, keras.distribution.ModelParallel)


def check_strategy(strategy):
    """A ``strategy`` argument this backend can use, or a ConfigError saying what can."""
    backend = keras.backend.backend()
    if strategy is None:
        return
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(strategy, tf.distribute.Strategy):
            return
    elif isinstance(strategy, DISTRIBUTIONS):
        return
    raise ConfigError(
        f"strategy={strategy!r} is not one the {backend} backend can train with: give "
        f"None (every visible accelerator), a tf.distribute.Strategy under TensorFlow "
        f"(e.g. tf.distribute.MirroredStrategy()), or a keras.distribution "
        f"under JAX (e.g. keras.distribution.DataParallel()).")


# --- build and compile ----------------------------------------------------------------

def build_model(config, splits=None, *, num_classes=None, steps_per_epoch=None,
                strategy=None, optimizer=None, backbone=None, jit_compile=None,
                steps_per_execution="auto"):
    """Build and compile ``config.model`` for training from scratch with the recipe above.

    ``config`` (a ``resnet_lab.config.RunConfig``) gives every setting of the recipe;
    ``splits`` (from ``data.load_dataset(config)``) the number of classes and the steps
    per epoch of the learning-rate schedule, so the two can't disagree. Without batches
    (synthetic data, arrays passed to ``fit``), give ``num_classes`` and
    ``steps_per_epoch`` instead.

    The model takes images with values in [0, 255] (any numeric dtype; it rescales
    them itself) and ends with a float32 softmax (``network``). With
    ``config.augment``, it applies the dataset's augmentation first, in training only,
    around the network for inference, which ``inference_model(model)`` returns.

    How it runs, not what it learns: ``strategy`` (default ``choose_strategy()``),
    ``optimizer`` (None: the recipe's AdamW and schedule, ``optimizer_for``; or a Keras
    optimizer), ``jit_compile`` (None: ``config.xla``; or Keras' "auto", True, False),
    ``steps_per_execution`` ("auto": the recipe's choice) and ``backbone``: for
    ``model="resnet50"``, another constructor with keras.applications' arguments (e.g.
    ``keras.applications.ResNet50``; ``bench`` compares the two this way).
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"build_model takes the run's settings first, a resnet_lab.config."
                        f"RunConfig (e.g. RunConfig(model='resnet8', image_size=16)); got "
                        f"{config!r}.")
    if splits is not None:
        batch_size = getattr(splits.train, "batch_size", config.batch_size)
        if batch_size != config.batch_size:
            raise ConfigError(f"the batches hold {batch_size} images, the config says "
                              f"batch_size {config.batch_size}: load them with "
                              f"data.load_dataset(config).")
        num_classes, steps_per_epoch = len(splits.class_names), len(splits.train)
    if num_classes is None or steps_per_epoch is None:
        raise TypeError("build_model needs the batches (splits), or num_classes and "
                        "steps_per_epoch.")
    check_strategy(strategy)
    policy = precision_for_device() if config.precision == "auto" else config.precision
    keras.utils.set_random_seed(config.seed)
    strategy = choose_strategy() if strategy is None else strategy
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            net = network(config, num_classes, backbone=backbone)
            if config.augmentation is not None:
                from resnet_lab.augment import augmentation

                images = keras.Input(shape=(config.image_size, config.image_size, 3),
                                     name="images")
                augmented = augmentation(config.augmentation, seed=config.seed)(images)
                net = keras.Model(images, net(augmented), name=f"{config.model}_training")
            net.compile(
                optimizer=optimizer or optimizer_for(config, steps_per_epoch),
                loss=keras.losses.CategoricalCrossentropy(
                    label_smoothing=config.label_smoothing),
                metrics=["accuracy"],
                jit_compile=config.jit_compile if jit_compile is None else jit_compile,
                steps_per_execution=choose_steps_per_execution(steps_per_execution,
                                                               steps_per_epoch),
            )
            _synchronize_batchnorm(net, strategy)
            example = (np.zeros((config.batch_size, config.image_size, config.image_size, 3),
                                "uint8"),
                       np.zeros((config.batch_size, num_classes), "float32"))
            _build_state_before_tracing(net, [example])
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return net


def _synchronize_batchnorm(model, strategy):
    """Under a tf.distribute strategy with several replicas, BatchNorm normalises with
    the statistics of the whole global batch (``synchronized=True``).

    Each replica otherwise normalises its own slice and moves its own copy of the moving
    statistics: the copies drift apart (by 0.04 after one epoch of ResNet-8 on two
    devices), the validation accuracy logged comes from a mix of them, and the saved
    model (the first replica's) is not the model that was evaluated. With the global
    batch's statistics every replica makes the same update. JAX's DataParallel computes
    the statistics over the global batch already.
    """
    if strategy is None or keras.backend.backend() != "tensorflow":
        return
    if strategy.num_replicas_in_sync <= 1:
        return
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


@contextlib.contextmanager
def _portable(model):
    """BatchNorm saved as ``synchronized=False``: a model trained on several devices
    loads on one, and under backends other than TensorFlow (which refuse the flag)."""
    synchronized = [layer for layer in all_layers(model)
                    if isinstance(layer, keras.layers.BatchNormalization)
                    and layer.synchronized]
    for layer in synchronized:
        layer.synchronized = False
    try:
        yield model
    finally:
        for layer in synchronized:
            layer.synchronized = True


def inference_model(model):
    """The network ``model`` trains, for inference: no augmentation layer, not compiled.

    Its layers (and weights) are the training model's own.
    """
    if any(layer.name == "augment" for layer in model.layers):
        return model.layers[-1]
    # A tensor, not a list of one, so that a reloaded model's .output is a tensor too.
    inputs, outputs = model.inputs, model.outputs
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                       outputs[0] if len(outputs) == 1 else outputs, name=model.name)


def network(config, num_classes, backbone=None):
    """The network ``build_model`` trains: raw pixels in, class probabilities out.

    A Rescaling layer maps pixels from [0, 255] to [-1, 1]; the registry's builder makes
    ``config.model`` from random weights; with ``config.zero_init_residual`` every
    residual branch's last BatchNorm starts with scale 0, so each block starts as its
    shortcut (Goyal et al. 2017), which keeps the first steps of a deep network stable;
    BatchNorm's momentum is ``config.bn_momentum``; a float32 softmax ends it.
    """
    spec = config.spec
    if backbone is not None and config.model != "resnet50":
        raise ValueError(f"backbone replaces ResNet-50 only (e.g. with "
                         f"keras.applications.ResNet50); got model={config.model!r}.")
    images = keras.Input(shape=(config.image_size, config.image_size, 3), name="images")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(images)
    with zero_init_residual(config.zero_init_residual):
        if spec.family is registry.CIFAR:  # lesson 6's networks: one layer of this model
            net = spec.build(classes=num_classes, input_shape=tuple(scaled.shape[1:]),
                             classifier_activation=None)
            logits = net(scaled)
        else:
            build = backbone or spec.build
            net = build(input_tensor=scaled, weights=None, classes=num_classes,
                        classifier_activation=None)
            logits = net.output
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config.bn_momentum
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)
    return keras.Model(images, probabilities, name=f"{config.model}_classifier")


def optimizer_for(config, steps_per_epoch):
    """AdamW with the recipe's learning rate, warm-up, cosine decay and weight decay."""
    peak = peak_learning_rate(config)
    total = max(1, steps_per_epoch * config.epochs)
    warmup_epochs = (min(5, config.epochs / 10) if config.warmup_epochs is None
                     else config.warmup_epochs)
    schedule = WarmupCosine(peak, total,
                            min(total - 1, round(steps_per_epoch * warmup_epochs)))
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def peak_learning_rate(config):
    """``config.learning_rate``, or the recipe's default: 2e-3 x sqrt(batch / 32), at
    most 4e-3."""
    if config.learning_rate is not None:
        return config.learning_rate
    return min(4e-3, 2e-3 * math.sqrt(config.batch_size / 32))


@keras.saving.register_keras_serializable(package="resnet_lab")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from peak / 10 to peak, then cosine decay to zero.

    keras.optimizers.schedules.CosineDecay does the same with a conditional that the
    optimizer re-traces for every weight it decays; this arithmetic form makes the
    training step quicker to trace.
    """

    def __init__(self, peak, total_steps, warmup_steps):
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (0.1 + 0.9 * step / max(1, self.warmup_steps))
        progress = keras.ops.clip(
            (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps), 0, 1)
        cosine = 0.5 * self.peak * (1 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


def choose_steps_per_execution(value, steps_per_epoch):
    """Training steps per compiled call: ``value``, or the recipe's choice for "auto"."""
    if value != "auto":
        return int(value)
    # Several steps per call hide the per-step launch cost on accelerators; on CPUs
    # each step is long anyway, and 1 keeps the progress bar and callbacks per step.
    return 1 if accelerator().kind == "cpu" else max(1, min(16, steps_per_epoch))


# --- callbacks -----------------------------------------------------------------------

class ThroughputAndLearningRate(keras.callbacks.Callback):
    """Adds images_per_second (training steps only), epoch_seconds (validation included)
    and learning_rate to the epoch logs."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps, self._train_seconds = time.perf_counter(), 0, None

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1

    def on_test_begin(self, logs=None):
        if getattr(self, "_start", None) is not None and self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._train_seconds or (time.perf_counter() - self._start)
        if logs is not None:
            logs["images_per_second"] = self._steps * self.batch_size / seconds
            logs["epoch_seconds"] = time.perf_counter() - self._start
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss, with advice instead of a shrug."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise FloatingPointError(
                f"The loss became {float(loss)} at step {batch} of epoch "
                f"{getattr(self, '_epoch', 0) + 1}. Usual causes: a learning rate too "
                f"high for this batch size (try --learning-rate 10 times lower), "
                f"float16 overflow (try --precision float32 or mixed_bfloat16), or "
                f"images that are not finite. The last finished epoch is kept: fix the "
                f"cause and run again with the same output folder to resume."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


class TimeLimit(keras.callbacks.Callback):
    """Stops after the epoch past which the next one would end later than ``seconds``
    after training started; the run stays resumable (a re-run goes on from there).

    The next epoch is expected to take as long as the longest so far, not counting in
    the first one its first training call (which includes tracing and compilation).
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.stopped = float(seconds), False

    def on_train_begin(self, logs=None):
        self._start, self._longest = time.perf_counter(), 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._after_first_call = time.perf_counter(), None

    def on_train_batch_end(self, batch, logs=None):
        if self._after_first_call is None:
            self._after_first_call = (time.perf_counter(), batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        seconds = now - self._epoch_start
        if epoch == 0 and self._after_first_call is not None:
            first_end, first_steps = self._after_first_call  # tracing ends there
            steps = max(first_steps, self.params.get("steps") or first_steps)
            seconds = (now - first_end) * steps / max(1, steps - first_steps)
        self._longest = max(self._longest, seconds)
        if now - self._start + self._longest > self.seconds:
            self.model.stop_training, self.stopped = True, True


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch, without timings: progress for stored notebook outputs."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        print(f"epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', math.nan):.3f}, "
              f"accuracy {logs.get('accuracy', math.nan):.3f}, validation accuracy "
              f"{logs.get('val_accuracy', math.nan):.3f}", flush=True)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model with the best validation accuracy so far, atomically.

    keras.callbacks.ModelCheckpoint writes in place, so a kill during the write leaves
    a broken file; this writes a temporary file and renames it.
    """

    def __init__(self, path, monitor="val_accuracy", best=-math.inf):
        super().__init__()
        self.path, self.monitor, self.best = pathlib.Path(path), monitor, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best:
            self.best = float(value)
            save_atomically(self.model, self.path)


def save_atomically(model, path):
    """Save ``inference_model(model)`` to path, through a temporary file."""
    network = inference_model(model)
    with _portable(network):
        write_atomically(path, network.save, suffix=".keras")


class _EpochOfBatches(keras.callbacks.Callback):
    """Tells batches with ``set_epoch`` (data.Batches) which epoch runs: a resumed run
    shuffles as the uninterrupted one would."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


# --- fit -----------------------------------------------------------------------------

def train(config, out_dir, *, strategy=None, root=None, tensorboard=False, verbose="auto",
          callbacks=(), time_limit=None):
    """A whole run from its settings: load the data, build the model, fit; the summary.

    ``strategy``: the devices it trains on. None: every visible accelerator
    (``choose_strategy``). Under TensorFlow, a ``tf.distribute.Strategy`` (e.g.
    ``tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])``): BatchNorm then uses the
    whole global batch's statistics and each replica draws its own augmentation. Under
    JAX, a ``keras.distribution`` (e.g. ``keras.distribution.DataParallel()``), set for
    this run only.

    Refuses (``ConfigError``) an ``out_dir`` that holds a run with other settings before
    it loads anything.
    """
    from resnet_lab import data

    check_strategy(strategy)
    check_run_folder(config, out_dir)
    splits = data.load_dataset(config, root=root)
    distribution = (strategy.scope() if isinstance(strategy, DISTRIBUTIONS)
                    else contextlib.nullcontext())
    with distribution:
        model = build_model(config, splits, strategy=strategy)
        return fit(model, splits, config.epochs, out_dir, config=config,
                   tensorboard=tensorboard, verbose=verbose, callbacks=callbacks,
                   time_limit=time_limit)


def fit(model, splits, epochs, out_dir, *, config=None, tensorboard=False, verbose="auto",
        callbacks=(), time_limit=None):
    """Train with the recipe's callbacks; resume if ``out_dir`` holds an earlier run.

    Writes to ``out_dir``: history.csv (one row per finished epoch), best.keras,
    final.keras (the network for inference, see ``inference_model``), curves.png,
    summary.json, config.json (with ``config``, a RunConfig: a folder that holds a run
    with other settings is refused), and backup/ (the resume point). Returns the
    summary as a dict; ``read_history(out_dir)`` gives the per-epoch history.
    ``verbose``: Keras' 0, 1 (progress bar) or 2 (a line per epoch), "auto" (a bar on a
    terminal), or "epochs" (a short line per epoch without timings). ``callbacks`` are
    added after the recipe's own. ``time_limit``: seconds of training after which it
    stops at the end of an epoch (``TimeLimit``; the summary says ``stopped_at_time_limit``,
    and a re-run resumes).
    """
    out = pathlib.Path(out_dir)
    batch_size = getattr(splits.train, "batch_size", None) or int(
        next(iter(splits.train))[0].shape[0])
    _split_evenly(model, splits, batch_size)
    if config is not None:
        if config.epochs != epochs:
            raise ConfigError(f"fit was asked for {epochs} epochs, the config says "
                              f"{config.epochs}.")
        check_run_folder(config, out)
    out.mkdir(parents=True, exist_ok=True)
    if config is not None:
        config.save(out / "config.json")
    history_path = out / "history.csv"
    _discard_unreadable_backup(out / "backup")
    resumed_at = _reconcile_history(out)
    extra_callbacks, callbacks = list(callbacks), [
        NanGuard(),
        ThroughputAndLearningRate(batch_size),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        # After the CSV row: a kill between the two re-runs that epoch, whose row
        # _reconcile_history then drops, so no epoch is logged twice or lost.
        keras.callbacks.BackupAndRestore(str(out / "backup"), double_checkpoint=True,
                                         delete_checkpoint=False),
        BestModelCheckpoint(out / "best.keras", best=_best_so_far(history_path)),
    ]
    if hasattr(splits.train, "set_epoch"):
        callbacks.insert(0, _EpochOfBatches(splits.train))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard")))
    limit = TimeLimit(time_limit) if time_limit is not None else None
    if limit:
        callbacks.append(limit)
    callbacks.extend(extra_callbacks)
    if verbose == "epochs":
        callbacks.append(EpochPrinter(epochs))
        verbose = 0
    elif verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    train, validation = _native_inputs(model, splits)
    _build_state_before_tracing(model, splits.train)
    start = time.perf_counter()
    model.fit(train, validation_data=validation, epochs=epochs,
              callbacks=callbacks, verbose=verbose, shuffle=False)  # the batches shuffle
    seconds = time.perf_counter() - start
    save_atomically(model, out / "final.keras")
    history = read_history(out)
    summary = _summary(model, history, epochs, batch_size, seconds, resumed_at)
    summary["stopped_at_time_limit"] = bool(limit and limit.stopped)
    write_json_atomically(out / "summary.json", summary)
    if history["epoch"]:
        _save_curves(history, out / "curves.png")
    finished_with(out)  # a smoke run shared by kernels: the next one may resume it now
    return summary


def _build_state_before_tracing(model, batches):
    """Create the optimizer's and the metrics' variables before ``fit`` traces its step.

    Under TensorFlow, when ``compile`` was given no tf.distribute strategy, Keras creates
    them inside the first traced training step, and TensorFlow then traces the step a
    second time: a first ResNet-50 epoch took 27 s instead of 17 s on 2 CPU cores, and on
    a GPU the step would be compiled by XLA twice. Keras' own ``_symbolic_build`` creates
    them first (as it does under a strategy); it is private, so it is called only where
    it exists, and the run is the same without it, only slower to start.
    """
    build = getattr(model, "_symbolic_build", None)
    if keras.backend.backend() != "tensorflow" or build is None or not len(batches):
        return
    with model.distribute_strategy.scope():  # the model's variables live there
        build(data_batch=tuple(batches[0]))


def _native_inputs(model, splits):
    """Under TensorFlow on one device, the batches as native tf.data pipelines (same
    batches, without a Python call per batch); elsewhere the batches themselves."""
    from resnet_lab import data

    if (keras.backend.backend() != "tensorflow" or replicas(model) > 1
            or not all(isinstance(s, data.Batches) for s in (splits.train, splits.validation))
            or splits.train.images.nbytes + splits.validation.images.nbytes > 2**30):
        return splits.train, splits.validation
    return data.as_tf_dataset(splits.train), data.as_tf_dataset(splits.validation)


def _split_evenly(model, splits, batch_size):
    """Under JAX on several devices every batch must split evenly over them."""
    devices = replicas(model) if keras.backend.backend() == "jax" else 1
    if devices <= 1:
        return
    if batch_size % devices:
        raise ConfigError(f"batch_size {batch_size} does not split evenly over {devices} "
                          f"devices: use a multiple of {devices}.")
    if hasattr(splits.validation, "pad_to"):
        splits.validation.pad_to = devices


def _save_curves(history, path):
    try:
        from matplotlib.figure import Figure  # not pyplot: leave the user's backend alone
    except ImportError:
        print(f"matplotlib is not installed: no {path.name}; history.csv has the figures.",
              file=sys.stderr)
        return
    from resnet_lab.plotting import plot_history

    figure = plot_history(history, figure=Figure(figsize=(14, 4)))
    figure.savefig(path, dpi=100, bbox_inches="tight")


def read_history(out_dir):
    """The CSV log as {column: [values per finished epoch]} (floats, epoch as int)."""
    path = pathlib.Path(out_dir) / "history.csv"
    if not path.exists():
        return {"epoch": []}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = rows[0].keys() if rows else ["epoch"]
    return {c: [int(r[c]) if c == "epoch" else float(r[c]) for r in rows] for c in columns}


def _discard_unreadable_backup(backup):
    """Handle a backup cut off while being written, which Keras cannot fall back from.

    BackupAndRestore(double_checkpoint=True) keeps the previous backup (*.bkp) and uses
    it when the latest is unreadable; before the second save there is none, and a kill
    during the first save would make every later run fail. Then start afresh.
    """
    import h5py

    weights = backup / "latest.weights.h5"
    if not weights.exists() or (backup / "latest.weights.h5.bkp").exists():
        return
    try:
        with h5py.File(weights, "r") as f:
            f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset)
                         else None)
    except (OSError, KeyError, ValueError):
        print(f"The backup in {backup} was cut off while being written; training starts "
              f"again from the first epoch.", file=sys.stderr)
        weights.unlink()
        (backup / "training_metadata.json").unlink(missing_ok=True)


def _reconcile_history(out):
    """Drop CSV rows of epochs the backup does not have (they will run again)."""
    metadata = out / "backup" / "training_metadata.json"
    history_path = out / "history.csv"
    done = json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0
    if history_path.exists():
        with open(history_path, newline="") as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) < done]
        if kept != rows:
            text = io.StringIO(newline="")
            csv.writer(text).writerows(kept)
            write_atomically(history_path, text.getvalue())
    return done


def _best_so_far(history_path):
    history = read_history(history_path.parent)
    return max(history.get("val_accuracy") or [-math.inf])


def _summary(model, history, epochs, batch_size, seconds, resumed_at):
    kind, device, _ = accelerator()
    rates = history.get("images_per_second", [])
    steady = rates[1:] or rates  # the first epoch includes tracing/compilation
    epoch_seconds = history.get("epoch_seconds", [])
    steady_seconds = epoch_seconds[1:] or epoch_seconds
    accuracy = history.get("val_accuracy", [])
    return {
        "epochs_finished": len(history["epoch"]),
        "epochs_requested": epochs,
        "resumed_at_epoch": resumed_at,
        "best_val_accuracy": max(accuracy) if accuracy else None,
        "final_val_accuracy": accuracy[-1] if accuracy else None,
        "final_accuracy": (history.get("accuracy") or [None])[-1],
        "images_per_second": float(np.median(steady)) if steady else None,
        "step_ms": 1000 * batch_size / float(np.median(steady)) if steady else None,
        "epoch_seconds": float(np.median(steady_seconds)) if steady_seconds else None,
        "first_epoch_seconds": epoch_seconds[0] if epoch_seconds else None,
        "seconds_this_run": round(seconds, 1),
        "batch_size": batch_size,
        "precision": model.dtype_policy.name,
        "device": f"{kind}: {device}",
        "replicas": replicas(model),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
    }


def replicas(model):
    """How many devices share each batch: tf.distribute replicas, or JAX's data-parallel
    devices."""
    if keras.backend.backend() == "tensorflow":
        return int(model.distribute_strategy.num_replicas_in_sync)
    distribution = keras.distribution.distribution()
    if isinstance(distribution, keras.distribution.DataParallel):
        return int(np.prod(distribution.device_mesh.shape))
    return 1
