"""RunConfig: one record of a run's settings, checked once, with one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from resnet_lab.config import ConfigError, RunConfig, check_run_folder


@pytest.mark.parametrize("changes, message", [
    (dict(model="resnet51"), "model must be one of resnet50, resnet18, resnet34"),
    (dict(model="resnet18", image_size=16), "image_size must be at least 32 for resnet18"),
    (dict(dataset="mnist"), "dataset must be one of shapes, imagenette, cifar10; got 'mnist'"),
    (dict(precision="float64"), "precision must be one of auto, float32"),
    (dict(image_size=16), "image_size must be at least 32 for resnet50"),
    (dict(model="plain20", image_size=4), "image_size must be at least 8 for plain20"),
    (dict(batch_size=0), "batch_size must be a positive whole number; got 0"),
    (dict(epochs=2.5), "epochs must be a positive whole number; got 2.5"),
    (dict(seed=-1), "seed must be a whole number, 0 or more; got -1"),
    (dict(seed=2**32), "seed must be below 2**32"),
    (dict(learning_rate=0), "learning_rate must be a positive number"),
    (dict(learning_rate=float("nan")), "learning_rate must be a positive number"),
    (dict(label_smoothing=1.0), "label_smoothing must be at least 0 and below 1"),
    (dict(augment="yes"), "augment must be True, False or None (the dataset's choice)"),
    (dict(weight_decay=-0.1), "weight_decay must be a number, 0 or more; got -0.1"),
    (dict(bn_momentum=1.0), "bn_momentum must be at least 0 and below 1; got 1.0"),
    (dict(warmup_epochs=-0.5), "warmup_epochs must be a number, 0 or more (a fraction of "
                               "an epoch too); got -0.5"),
    (dict(warmup_epochs="1"), "warmup_epochs must be a number, 0 or more"),
    (dict(xla=True), "xla must be one of auto, on, off; got True"),
    (dict(epochs=3, warmup_epochs=3), "warmup_epochs 3 leaves no epoch to decay in (epochs 3)"),
    (dict(batch_size=64, train_size=32), "batch_size 64 is larger than train_size 32"),
])
def test_a_bad_setting_is_one_line_naming_it(changes, message):
    with pytest.raises(ConfigError) as info:
        RunConfig(**changes)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_the_config_is_frozen_and_replace_checks_again():
    config = RunConfig()
    with pytest.raises(AttributeError):
        config.epochs = 3
    assert config.replace(epochs=3).epochs == 3
    with pytest.raises(ConfigError):
        config.replace(epochs=0)


def test_each_dataset_gets_its_augmentation():
    assert RunConfig(dataset="imagenette").augmentation == "resized_crop"
    assert RunConfig(dataset="cifar10").augmentation == "shift"
    assert RunConfig(dataset="cifar10", augment=False).augmentation is None
    # The generated shapes: none unless asked, every image is new already.
    assert RunConfig().augmentation is None
    assert RunConfig(augment=True).augmentation == "shift"


def test_the_train_command_leaves_augmentation_to_the_dataset_unless_told():
    from resnet_lab.commands import train

    def config(*args):
        return train.config_from_arguments(train._parser().parse_args(list(args)))

    assert config().augment is None and config().augmentation is None
    assert config("--augment").augmentation == "shift"
    assert config("--dataset", "cifar10").augmentation == "shift"
    assert config("--dataset", "cifar10", "--no-augment").augmentation is None
    assert config() == RunConfig()  # the command's defaults are the recipe's


def test_it_round_trips_through_json_and_names_its_differences(tmp_path):
    config = RunConfig(model="resnet20", learning_rate=1e-3, epochs=7)
    config.save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json") == config
    assert not list(tmp_path.glob("*.partial"))
    other = config.replace(epochs=8, seed=3)
    assert other.differences(config) == ["epochs 7 there, 8 here", "seed 0 there, 3 here"]
    with pytest.raises(ConfigError, match="unknown setting"):
        RunConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_a_run_folder_is_resumed_only_with_the_same_settings(tmp_path):
    config = RunConfig(model="resnet8", image_size=16)
    check_run_folder(config, tmp_path)  # nothing there yet
    config.save(tmp_path / "config.json")
    check_run_folder(config, tmp_path)  # the same settings: resume
    with pytest.raises(ConfigError, match=r"holds a run with other settings \(batch_size 64 "
                                          r"there, 128 here\)"):
        check_run_folder(config.replace(batch_size=128), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": "vgg"}))
    with pytest.raises(ConfigError, match="is not a run's settings"):
        check_run_folder(config, tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "backup").mkdir()  # a run from before config.json existed
    with pytest.raises(ConfigError, match="holds a run without its settings"):
        check_run_folder(config, tmp_path)


def test_the_config_module_needs_no_keras():
    script = ("import sys; import resnet_lab.config, resnet_lab.commands.train; "
              "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]


def test_deterministic_asks_xla_for_deterministic_gpu_kernels_once(monkeypatch):
    from resnet_lab.commands import train

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    train.deterministic_xla()
    train.deterministic_xla()  # a second run in the same process adds nothing
    assert os.environ["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=2 "
                                       "--xla_gpu_deterministic_ops=true")
    monkeypatch.delenv("XLA_FLAGS")
    train.deterministic_xla()
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"
