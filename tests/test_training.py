"""The training recipe, its callbacks, and `python -m resnet_lab train`."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from resnet_lab import analysis, env, training
from resnet_lab.config import ConfigError, RunConfig
from resnet_lab.data import load_dataset

TINY = dict(image_size=32, batch_size=8, train_size=32, validation_size=16)


def tiny_splits(seed=0):
    return load_dataset("shapes", TINY["image_size"], TINY["batch_size"], seed=seed,
                        train_size=TINY["train_size"], validation_size=TINY["validation_size"])


def tiny_model(splits, epochs=2, **settings):
    config = RunConfig(image_size=32, batch_size=8, epochs=epochs, augment=False, **settings)
    return training.build_model(config, splits)


TINY_ARGS = ["--image-size", "32", "--batch-size", "8", "--train-size", "32",
             "--validation-size", "16", "--epochs", "2", "--deterministic"]
# The recipe's machinery (files, resume, seeds, replicas, NaN guard) is the same for
# every model: these tests train the small CIFAR ResNet-8, which traces in seconds.
# ResNet-50 itself goes through training.fit in lesson 05, which nbval runs.
SMALL = ["--model", "resnet8"]


def cli(*args, env=None, **kwargs):
    env = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "resnet_lab", "train", *args],
                          capture_output=True, text=True, env=env, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = cli(*TINY_ARGS, *SMALL, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout[result.stdout.index("{"):])


@pytest.mark.parametrize("device, policy", [
    (env.Device("cpu", "CPU", None), "float32"),
    (env.Device("gpu", "Tesla T4", 7), "mixed_float16"),
    (env.Device("gpu", "NVIDIA H100", 9), "mixed_bfloat16"),
    (env.Device("tpu", "TPU", None), "mixed_bfloat16"),
])
def test_the_recipe_chooses_the_precision_by_the_device(device, policy, monkeypatch):
    monkeypatch.setattr(training, "accelerator", lambda: device)
    assert training.precision_for_device() == policy


def test_the_model_takes_the_devices_precision_and_xla_setting():
    model = tiny_model(tiny_splits(), epochs=1)
    assert model.dtype_policy.name == training.precision_for_device()
    # Keras' "auto": XLA on accelerators, and always under JAX; off for TensorFlow on CPUs.
    on_cpu = env.accelerator().kind == "cpu"
    assert model.jit_compile is (not on_cpu or keras.backend.backend() == "jax")


def test_mixed_precision_keeps_a_float32_softmax_and_leaves_the_global_policy_alone():
    model = tiny_model(tiny_splits(), epochs=1, precision="mixed_bfloat16")
    assert model.get_layer("predictions").compute_dtype == "bfloat16"
    assert model.get_layer("softmax").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"


def test_every_residual_branch_starts_at_zero_and_batchnorm_uses_momentum_0_9():
    model = tiny_model(tiny_splits(), epochs=1)
    last_bns = [layer for layer in model.layers if layer.name.endswith("_branch2c")
                and layer.name.startswith("bn")]
    assert len(last_bns) == 16
    assert all(not np.any(layer.gamma.numpy()) for layer in last_bns)
    assert {layer.momentum for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}


@pytest.mark.parametrize("name, zeroed", [("resnet18", 8), ("resnet50v2", 0), ("resnet50d", 16)])
def test_the_rest_of_the_family_fits_the_recipe(name, zeroed):
    """Each residual branch's last BatchNorm starts at zero: one per basic block of
    ResNet-18, per bottleneck of ResNet-50-D; v2's branches end with a convolution."""
    config = RunConfig(model=name, image_size=32, epochs=1, augment=False)
    model = training.build_model(config, num_classes=3, steps_per_epoch=2)
    scales = [layer.gamma.numpy() for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    assert sum(not np.any(g) for g in scales) == zeroed
    assert {layer.momentum for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}
    assert tuple(model.output.shape) == (None, 3) and model.output.dtype == "float32"


def test_without_zero_init_a_resnet_starts_like_its_plain_twin():
    def batchnorm_scales(model):
        network = model.get_layer(model.name.removesuffix("_classifier"))
        return {layer.name: layer.gamma.numpy() for layer in network.layers
                if isinstance(layer, keras.layers.BatchNormalization)}

    def cifar(name, **settings):
        config = RunConfig(model=name, image_size=16, epochs=1, augment=False, **settings)
        return training.build_model(config, num_classes=8, steps_per_epoch=2)

    zeroed = [name for name, g in batchnorm_scales(cifar("resnet8")).items() if not np.any(g)]
    assert zeroed == ["s1b1_bn2", "s2b1_bn2", "s3b1_bn2"]  # the recipe: each block's last
    twins = [cifar(name, zero_init_residual=False) for name in ("resnet8", "plain8")]
    for model in twins:
        scales = batchnorm_scales(model)
        assert len(scales) == 7 and all(np.all(g == 1) for g in scales.values())
    for a, b in zip(*(model.get_weights() for model in twins), strict=True):
        np.testing.assert_array_equal(a, b)  # the same seed: the same starting weights
    with pytest.raises(ConfigError, match="image_size must be at least 8 for resnet8"):
        RunConfig(model="resnet8", image_size=4)


def test_learning_rate_warms_up_then_decays_to_zero():
    optimizer = tiny_model(tiny_splits(), epochs=10).optimizer  # 4 steps an epoch
    values = []
    for step in (0, 4, 20, 39):
        optimizer.iterations.assign(step)
        values.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    assert values[0] < values[1]  # warming up over the first epoch
    assert values[1] > values[2] > values[3] >= 0
    assert values[3] < 0.01 * values[1]


def test_fit_writes_history_checkpoints_curves_and_summary(finished_run):
    out, summary = finished_run
    history = training.read_history(out)
    assert history["epoch"] == [0, 1]
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "images_per_second",
                   "learning_rate"):
        assert len(history[column]) == 2, column
    assert all(rate > 0 for rate in history["images_per_second"])
    for name in ("best.keras", "final.keras", "curves.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*partial*"))
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["epochs_finished"] == 2
    assert summary["precision"] == training.precision_for_device()  # the CLI's "auto"
    reloaded = keras.saving.load_model(out / "best.keras")
    assert reloaded.output.shape[-1] == 8


def test_the_same_seed_gives_the_same_training(finished_run, tmp_path):
    first_out, second_out = finished_run[0], tmp_path / "again"  # the same arguments
    assert cli(*TINY_ARGS, *SMALL, "--out", str(second_out)).returncode == 0
    first, again = training.read_history(first_out), training.read_history(second_out)
    assert first["loss"] == again["loss"] and first["val_loss"] == again["val_loss"]


class Poisoned(keras.utils.PyDataset):
    """The training batches with every pixel NaN."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        images, labels = self.batches[index]
        return images.astype("float32") * np.nan, labels


def test_a_nan_loss_stops_training_with_advice(tmp_path):
    splits = tiny_splits()
    model = tiny_model(splits, model="resnet8")
    with pytest.raises(FloatingPointError, match="learning rate"):
        training.fit(model, splits._replace(train=Poisoned(splits.train)), epochs=1,
                     out_dir=tmp_path, verbose=0)


def test_a_time_limit_stops_after_an_epoch_and_the_run_goes_on_later(tmp_path):
    """A limit no epoch fits in stops after the first (the earliest a limit can act);
    the next run, with a limit it fits in, resumes there and finishes."""
    splits = tiny_splits()
    config = RunConfig(model="resnet8", image_size=32, batch_size=8, epochs=2,
                       augment=False)
    summary = training.fit(training.build_model(config, splits), splits, 2, tmp_path,
                           config=config, verbose=0, time_limit=1e-6)
    assert summary["stopped_at_time_limit"] and summary["epochs_finished"] == 1
    summary = training.fit(training.build_model(config, splits), splits, 2, tmp_path,
                           config=config, verbose=0, time_limit=1e6)
    assert not summary["stopped_at_time_limit"]
    assert summary["resumed_at_epoch"] == 1 and summary["epochs_finished"] == 2


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["--image-size", "16"], "--image-size must be at least 32"),
    (["--model", "plain8", "--image-size", "4"], "--image-size must be at least 8"),
    (["--label-smoothing", "1"], "--label-smoothing must be at least 0 and below 1"),
    (["--batch-size", "0"], "must be at least 1"),
    (["--epochs", "two"], "expected a whole number"),
    (["--learning-rate", "0"], "--learning-rate must be a positive number; got 0.0"),
    (["--learning-rate=-0.1"], "--learning-rate must be a positive number"),
    (["--seed", "-1"], "--seed must be a whole number, 0 or more; got -1"),
    (["--batch-size", "64", "--train-size", "32"],
     "--batch-size 64 is larger than --train-size 32"),
    (["--time-limit", "0"], "argument --time-limit: must be above 0 seconds, got 0"),
])
def test_bad_arguments_get_one_line_and_exit_code_2(args, message):
    result = cli(*args, "--out", "unused")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "model.txt").write_text("notes")
    result = cli("--out", str(tmp_path / "model.txt"))
    assert result.returncode == 2 and "is a file" in result.stderr


KILLED_AFTER_EPOCH_2 = """
import os, signal, sys
import keras
from resnet_lab import training
from resnet_lab.commands import train as train_cli

class KillAfterSecondEpoch(keras.callbacks.Callback):
    # Runs after the recipe's callbacks: epoch 2's row and backup are written, and the
    # process dies as if the machine went away (SIGKILL: no clean-up, no finally).
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

fit = training.fit
training.fit = lambda *args, **kwargs: fit(*args, **kwargs, callbacks=[KillAfterSecondEpoch()])
sys.exit(train_cli.main(sys.argv[1:]))
"""


def test_train_resumes_after_being_killed_without_losing_an_epoch(tmp_path):
    out = tmp_path / "run"
    args = ["--epochs", "4", "--image-size", "16", "--batch-size", "8", "--train-size",
            "32", "--validation-size", "16", "--out", str(out), "--model", "resnet8"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_EPOCH_2, *args], env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert training.read_history(out)["epoch"] == [0, 1]
    assert not (out / "summary.json").exists()

    result = cli(*args, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_at_epoch"] == 2
    with open(out / "history.csv", newline="") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2, 3]


MIRRORED = textwrap.dedent("""
    import json, pathlib, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from resnet_lab import data, training
    from resnet_lab.analysis import all_layers
    from resnet_lab.config import RunConfig

    out = pathlib.Path(sys.argv[1])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    config = RunConfig(model="resnet8", image_size=16, batch_size=16, epochs=1,
                       train_size=64, validation_size=32, augment=True)

    class Keep(keras.callbacks.Callback):  # the model as trained, in this process
        def on_train_end(self, logs=None):
            self.trained = self.model

    kept = Keep()
    summary = training.train(config, out, strategy=strategy, verbose=0, callbacks=[kept])
    model = kept.trained
    copies = [[np.asarray(part) for part in variable.value.values]
              for layer in all_layers(model)
              if isinstance(layer, keras.layers.BatchNormalization)
              for variable in (layer.moving_mean, layer.moving_variance)]
    images, labels = data.load_arrays("shapes", 16, train_size=64, validation_size=32)[1]
    images = np.asarray(images)
    in_process = training.inference_model(model).predict(images, verbose=0)
    saved = keras.saving.load_model(out / "final.keras").predict(images, verbose=0)
    augment = model.get_layer("augment")
    same = tf.constant(np.repeat(images[:1], 4, axis=0))
    drawn = strategy.run(tf.function(lambda: augment(same, training=True)))
    first, second = (np.asarray(x) for x in strategy.experimental_local_results(drawn))
    print(json.dumps({
        "replicas": summary["replicas"], "epochs": summary["epochs_finished"],
        "moving_statistics_apart": max(float(np.abs(a - b).max()) for a, b in copies),
        "saved_vs_in_process": float(np.abs(saved - in_process).max()),
        "saved_accuracy": float(np.mean(saved.argmax(1) == labels)),
        "logged_accuracy": training.read_history(out)["val_accuracy"][-1],
        "augmentations_apart": float(np.abs(first - second).max()),
        "within_replica_apart": float(np.abs(first[0] - first[1]).max()),
    }))
""")


def test_mirrored_training_saves_the_model_it_trained_and_replicas_augment_apart(tmp_path):
    """tf.distribute.MirroredStrategy over 2 logical CPUs, through train(strategy=):
    BatchNorm is synchronised, so the replicas keep the same moving statistics, the
    saved model computes what the trained one does (and what the logged validation
    accuracy measured), and each replica draws its own crops and flips."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute is TensorFlow's; JAX's DataParallel is tested in "
                    "test_backends.py")
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["replicas"] == 2 and figures["epochs"] == 1
    assert figures["moving_statistics_apart"] == 0
    assert figures["saved_vs_in_process"] <= 1e-5
    assert figures["saved_accuracy"] == pytest.approx(figures["logged_accuracy"], abs=1e-6)
    assert figures["augmentations_apart"] > 1  # pixel values, 0..255
    assert figures["within_replica_apart"] > 1
    saved = keras.saving.load_model(tmp_path / "run" / "final.keras")  # loads on one device
    assert not any(layer.synchronized for layer in analysis.all_layers(saved)
                   if isinstance(layer, keras.layers.BatchNormalization))


def test_a_strategy_the_backend_cannot_use_is_refused_in_one_sentence():
    with pytest.raises(ConfigError, match="give None .every visible accelerator.*"
                                          "keras.distribution.DataParallel"):
        training.train(RunConfig(model="resnet8"), "unused", strategy="mirrored")


def test_build_model_takes_a_run_config_and_its_batches():
    splits = tiny_splits()
    with pytest.raises(TypeError, match="RunConfig"):
        training.build_model(8, 32)
    with pytest.raises(ConfigError, match="the batches hold 8 images, the config says "
                                          "batch_size 16"):
        training.build_model(RunConfig(batch_size=16), splits)
    with pytest.raises(TypeError, match="num_classes and steps_per_epoch"):
        training.build_model(RunConfig(model="resnet8"))


def test_every_setting_of_the_recipe_reaches_the_model():
    config = RunConfig(model="resnet8", image_size=16, batch_size=8, epochs=10,
                       learning_rate=1e-3, warmup_epochs=2, weight_decay=0.01,
                       bn_momentum=0.8, label_smoothing=0.2, augment=False)
    model = training.build_model(config, num_classes=8, steps_per_epoch=4)
    optimizer = model.optimizer
    assert optimizer.weight_decay == pytest.approx(0.01)
    schedule = optimizer._learning_rate
    assert (schedule.peak, schedule.total_steps, schedule.warmup_steps) == (1e-3, 40, 8)
    assert model.loss.label_smoothing == pytest.approx(0.2)
    assert {layer.momentum for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.8}
    assert not any(layer.name == "augment" for layer in model.layers)
    fractional = config.replace(warmup_epochs=0.75, xla="off")
    schedule = training.build_model(fractional, num_classes=8, steps_per_epoch=4)
    assert schedule.optimizer._learning_rate.warmup_steps == 3  # 0.75 of 4 steps
    default = config.replace(warmup_epochs=None, epochs=4)  # a tenth of the run
    schedule = training.build_model(default, num_classes=8, steps_per_epoch=25)
    assert schedule.optimizer._learning_rate.warmup_steps == 10
    if keras.backend.backend() == "tensorflow":  # JAX always compiles
        assert schedule.jit_compile is False
        assert training.build_model(config.replace(xla="on"), num_classes=8,
                                    steps_per_epoch=4).jit_compile is True


def test_a_run_folder_with_other_settings_is_refused_in_one_line(finished_run):
    out, _ = finished_run
    settings = json.loads((out / "config.json").read_text())
    assert settings["model"] == "resnet8" and settings["epochs"] == 2
    changed = [arg if arg != "2" else "3" for arg in TINY_ARGS]  # --epochs 3
    result = cli(*changed, *SMALL, "--out", str(out))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "holds a run with other settings (epochs 2 there, 3 here)" in result.stderr
    assert training.read_history(out)["epoch"] == [0, 1]  # nothing was touched


def test_a_saved_model_loads_in_a_fresh_process_without_resnet_lab(finished_run):
    out, _ = finished_run
    script = textwrap.dedent(f"""
        import sys
        import keras
        import numpy as np
        model = keras.saving.load_model({str(out / "best.keras")!r})
        probabilities = model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0)
        print(probabilities.shape, "resnet_lab" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=out, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["(2,", "8)", "False"]


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """An interruption at a known point: after epoch 1's backup, before epoch 2."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def test_a_resumed_run_sees_the_same_batches_and_augmentation_as_an_uninterrupted_one(
        tmp_path):
    config = RunConfig(model="resnet8", image_size=16, batch_size=8, epochs=2,
                       train_size=32, validation_size=16, seed=3, augment=True)
    whole = training.train(config, tmp_path / "whole", root=tmp_path / "data", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, tmp_path / "cut", root=tmp_path / "data", verbose=0,
                       callbacks=[StopAfterFirstEpoch()])
    resumed = training.train(config, tmp_path / "cut", root=tmp_path / "data", verbose=0)
    assert resumed["resumed_at_epoch"] == 1 and whole["resumed_at_epoch"] == 0
    first, again = (training.read_history(tmp_path / name) for name in ("whole", "cut"))
    assert again["epoch"] == [0, 1]
    np.testing.assert_allclose(again["loss"], first["loss"], rtol=1e-5)
    np.testing.assert_allclose(again["val_loss"], first["val_loss"], rtol=1e-5)


def test_fit_shuffles_the_training_batches_anew_each_epoch(tmp_path):
    from resnet_lab import data

    class Recording(data.Batches):
        seen = []

        def order(self):
            if not self.seen or self.seen[-1] != self.epoch:
                self.seen.append(self.epoch)
            return super().order()

    splits = tiny_splits()
    train = splits.train
    recording = Recording(train.images, train.labels, train.num_classes, train.batch_size,
                          shuffle=True)
    config = RunConfig(model="resnet8", image_size=32, batch_size=8, epochs=3, augment=False)
    model = training.build_model(config, num_classes=8, steps_per_epoch=len(recording))
    training.fit(model, splits._replace(train=recording), 3, tmp_path, verbose=0)
    assert recording.seen == [0, 1, 2]  # each epoch's own order, whichever input path


def test_a_backup_cut_off_during_its_first_write_is_discarded(tmp_path, capsys):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    (backup / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    training._discard_unreadable_backup(backup)
    assert not list(backup.iterdir())
    assert "cut off" in capsys.readouterr().err
