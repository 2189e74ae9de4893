"""One training run's settings: a frozen, validated record that needs no Keras.

``RunConfig`` is what ``python -m resnet_lab train`` builds from its arguments and what
the notebooks build from their profiles. It is checked once, when it is made, with a
one-line error that names the setting and the allowed values; then it flows through
``data.load_dataset(config)``, ``training.build_model_for(config, splits)`` and
``training.fit(..., config=config)``, so the batch size, the steps per epoch and the
number of epochs can't disagree between the data, the schedule and the loop.

``fit`` writes it to ``OUT/config.json``; running again with the same output folder
resumes only with the same settings (``RunConfig.differences`` names what changed).

The choices every module allows live here, and only here.
"""

import dataclasses
import json
import os
import pathlib

DATASETS = ("shapes", "imagenette", "cifar10")  # "shapes" is generated, needs no network
CIFAR_DEPTHS = (8, 14, 20, 32, 44, 56, 110)  # 6n + 2, see models.cifar_resnet
# ImageNet-style networks (224 px by design, any size from 32 up): resnet_lab.models and
# resnet_lab.family; then the CIFAR-style ResNets and plain networks of lesson 6.
IMAGENET_MODELS = ("resnet50", "resnet18", "resnet34", "resnet101", "resnet152", "resnet50v2",
                   "resnet101v2", "resnet152v2", "resnext50_32x4d", "resnet50d")
MODELS = (*IMAGENET_MODELS, *(f"{kind}{depth}" for kind in ("resnet", "plain")
                              for depth in CIFAR_DEPTHS))
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
MIN_IMAGE_SIZE = 32  # the ImageNet-style networks halve the image five times
MIN_CIFAR_IMAGE_SIZE = 8  # the CIFAR networks halve it twice
# The augmentation that suits each dataset (resnet_lab.augment): Imagenette and ImageNet
# recipes use a random resized crop and a flip; small images get a flip and a shift.
AUGMENTATIONS = {"imagenette": "resized_crop", "shapes": "shift", "cifar10": "shift"}


class ConfigError(ValueError):
    """A setting that is out of range; the message is one line that says what to do."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The settings of one training run (see the module docstring)."""

    model: str = "resnet50"
    dataset: str = "shapes"
    image_size: int = 32
    batch_size: int = 32
    epochs: int = 5
    learning_rate: float | None = None  # None: the recipe's default for the batch size
    precision: str = "auto"  # auto: the device's choice (training.precision_for_device)
    seed: int = 0
    augment: bool = True
    train_size: int = 4000  # generated images, for dataset "shapes" only
    validation_size: int = 1000
    label_smoothing: float = 0.1
    zero_init_residual: bool = True
    deterministic: bool = False  # bit-identical re-runs (TensorFlow op determinism)

    def __post_init__(self):
        _choice("model", self.model, MODELS)
        _choice("dataset", self.dataset, DATASETS)
        _choice("precision", self.precision, PRECISIONS)
        for name in ("image_size", "batch_size", "epochs", "train_size", "validation_size"):
            _whole(name, getattr(self, name), low=1)
        _whole("seed", self.seed, low=0)
        if self.seed >= 2**32:
            raise ConfigError(f"seed must be below 2**32 (NumPy's limit); got {self.seed}.")
        for name in ("augment", "zero_init_residual", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        smallest = MIN_IMAGE_SIZE if self.model in IMAGENET_MODELS else MIN_CIFAR_IMAGE_SIZE
        if self.image_size < smallest:
            halves = "five times" if self.model in IMAGENET_MODELS else "twice"
            raise ConfigError(f"image_size must be at least {smallest} for {self.model} (it "
                              f"halves the image {halves}); got {self.image_size}.")
        if self.learning_rate is not None and not _positive_number(self.learning_rate):
            raise ConfigError(f"learning_rate must be a positive number (or None for the "
                              f"recipe's default); got {self.learning_rate!r}.")
        if not (_number(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ConfigError(f"label_smoothing must be at least 0 and below 1; got "
                              f"{self.label_smoothing!r}.")
        if self.dataset == "shapes" and self.batch_size > self.train_size:
            raise ConfigError(f"batch_size {self.batch_size} is larger than train_size "
                              f"{self.train_size}: not one batch per epoch.")

    @property
    def augmentation(self):
        """The name of the augmentation the model applies in training, or None."""
        return AUGMENTATIONS[self.dataset] if self.augment else None

    def replace(self, **changes):
        """A copy with some settings changed (and checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; the settings are "
                              f"{', '.join(sorted(names))}.")
        return cls(**values)

    def differences(self, other):
        """``"name: mine vs other"`` for each setting that differs, in field order."""
        return [f"{field.name} {getattr(other, field.name)!r} there, "
                f"{getattr(self, field.name)!r} here"
                for field in dataclasses.fields(self)
                if getattr(self, field.name) != getattr(other, field.name)]

    def save(self, path):
        """Write the settings as JSON, atomically."""
        path = pathlib.Path(path)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(partial, path)

    @classmethod
    def load(cls, path):
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))


def check_run_folder(config, out_dir):
    """Refuse an output folder that holds a run with other settings (ConfigError)."""
    path = pathlib.Path(out_dir) / "config.json"
    if not path.exists():
        if (pathlib.Path(out_dir) / "backup").exists():
            raise ConfigError(f"{out_dir} holds a run without its settings (config.json), "
                              f"which can't be checked against these: use another output "
                              f"folder.")
        return
    try:
        earlier = RunConfig.load(path)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{path} is not a run's settings ({error}); use another output "
                          f"folder.") from None
    differences = config.differences(earlier)
    if differences:
        raise ConfigError(f"{out_dir} holds a run with other settings ("
                          f"{'; '.join(differences)}): use another output folder, or the "
                          f"same settings to resume it.")


def _choice(name, value, choices):
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


def _whole(name, value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "a positive whole number" if low == 1 else "a whole number, 0 or more"
        raise ConfigError(f"{name} must be {kind}; got {value!r}.")


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _positive_number(value):
    return _number(value) and 0 < value < float("inf")
