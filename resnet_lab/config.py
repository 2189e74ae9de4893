"""One training run's settings: a frozen, validated record that needs no Keras.

``RunConfig`` is what ``python -m resnet_lab train`` builds from its arguments and what
the notebooks build from their profiles. It is checked once, when it is made, with a
one-line error that names the setting and the allowed values; then it flows through
``data.load_dataset(config)``, ``training.build_model(config, splits)`` and
``training.fit(..., config=config)``, so the batch size, the steps per epoch and the
number of epochs can't disagree between the data, the schedule and the loop. Every
setting of the recipe is a field here (learning rate, warm-up, weight decay, label
smoothing, BatchNorm momentum, zero-initialised branches, precision): a run is fully
described by its config.json.

``fit`` writes it to ``OUT/config.json``; running again with the same output folder
resumes only with the same settings (``RunConfig.differences`` names what changed).

The models and datasets it accepts are those of ``resnet_lab.registry``.
"""

import dataclasses
import json
import pathlib

from resnet_lab import registry
from resnet_lab.files import write_json_atomically

MODELS = tuple(registry.MODELS)
DATASETS = tuple(registry.DATASETS)
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
XLA = ("auto", "on", "off")


class ConfigError(ValueError):
    """A setting that is out of range; the message is one line that says what to do."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The settings of one training run (see the module docstring)."""

    model: str = "resnet50"
    dataset: str = "shapes"
    image_size: int = 32
    batch_size: int = 64
    epochs: int = 4
    learning_rate: float | None = None  # None: the recipe's default for the batch size
    precision: str = "auto"  # auto: the device's choice (training.precision_for_device)
    seed: int = 0
    augment: bool | None = None  # None: the dataset's choice (off for shapes, on for photos)
    train_size: int = 12000  # generated images, for dataset "shapes" only
    validation_size: int = 1000
    label_smoothing: float = 0.1
    weight_decay: float = 0.05  # AdamW's decoupled decay, on the kernels only
    warmup_epochs: float | None = None  # None: a tenth of the epochs, at most 5
    bn_momentum: float = 0.9  # BatchNorm's moving statistics (Keras' default is 0.99)
    zero_init_residual: bool = True
    deterministic: bool = False  # bit-identical re-runs (TensorFlow op determinism)
    xla: str = "auto"  # compile the training step with XLA: auto (Keras' choice), on, off

    def __post_init__(self):
        _choice("model", self.model, MODELS)
        _choice("dataset", self.dataset, DATASETS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("xla", self.xla, XLA)
        for name in ("image_size", "batch_size", "epochs", "train_size", "validation_size"):
            _whole(name, getattr(self, name), low=1)
        _whole("seed", self.seed, low=0)
        if self.seed >= 2**32:
            raise ConfigError(f"seed must be below 2**32 (NumPy's limit); got {self.seed}.")
        if self.augment is not None and not isinstance(self.augment, bool):
            raise ConfigError(f"augment must be True, False or None (the dataset's "
                              f"choice); got {self.augment!r}.")
        for name in ("zero_init_residual", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        try:
            registry.check_image_size(self.model, self.image_size)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.learning_rate is not None and not _positive_number(self.learning_rate):
            raise ConfigError(f"learning_rate must be a positive number (or None for the "
                              f"recipe's default); got {self.learning_rate!r}.")
        if not (_number(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ConfigError(f"label_smoothing must be at least 0 and below 1; got "
                              f"{self.label_smoothing!r}.")
        if not (_number(self.weight_decay) and 0 <= self.weight_decay < float("inf")):
            raise ConfigError(f"weight_decay must be a number, 0 or more; got "
                              f"{self.weight_decay!r}.")
        if not (_number(self.bn_momentum) and 0 <= self.bn_momentum < 1):
            raise ConfigError(f"bn_momentum must be at least 0 and below 1; got "
                              f"{self.bn_momentum!r}.")
        if self.warmup_epochs is not None:
            if not (_number(self.warmup_epochs) and self.warmup_epochs >= 0):
                raise ConfigError(f"warmup_epochs must be a number, 0 or more (a fraction "
                                  f"of an epoch too); got {self.warmup_epochs!r}.")
            if self.warmup_epochs >= self.epochs:
                raise ConfigError(f"warmup_epochs {self.warmup_epochs} leaves no epoch to "
                                  f"decay in (epochs {self.epochs}): use fewer warm-up epochs.")
        if self.dataset == "shapes" and self.batch_size > self.train_size:
            raise ConfigError(f"batch_size {self.batch_size} is larger than train_size "
                              f"{self.train_size}: not one batch per epoch.")

    @property
    def augmentation(self):
        """The name of the augmentation the model applies in training, or None."""
        spec = registry.DATASETS[self.dataset]
        augment = spec.augment_by_default if self.augment is None else self.augment
        return spec.augmentation if augment else None

    @property
    def jit_compile(self):
        """``xla`` as Keras' ``jit_compile``: "auto", True or False."""
        return {"auto": "auto", "on": True, "off": False}[self.xla]

    @property
    def spec(self):
        """The model's ``registry.ModelSpec``."""
        return registry.MODELS[self.model]

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
        write_json_atomically(path, self.to_dict())

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
