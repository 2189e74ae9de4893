"""python -m resnet_lab train: the training recipe of resnet_lab.training, headless.

The arguments become one ``resnet_lab.config.RunConfig``, checked before Keras is
imported, so a mistake gets one line and exit code 2 at once, not seconds of start-up
log first. The settings are written to ``--out/config.json``; running again with the
same ``--out`` resumes, and with other settings is refused.
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import sys

from resnet_lab import registry
from resnet_lab.commands import OneLineParser, positive_int, positive_seconds
from resnet_lab.config import (
    DATASETS,
    MODELS,
    PRECISIONS,
    XLA,
    ConfigError,
    RunConfig,
    check_run_folder,
)

DEFAULTS = RunConfig()


def _parser():
    parser = OneLineParser(prog="python -m resnet_lab train",
                     description="Train ResNet-50 (or another ImageNet-style ResNet), or a "
                                 "CIFAR-style ResNet or plain network, "
                                 "from scratch; re-run with the same --out to resume "
                                 "after an interruption.")
    parser.add_argument("--dataset", default=DEFAULTS.dataset, choices=DATASETS,
                        help="shapes needs no network (default); the others download once")
    parser.add_argument("--model", default=DEFAULTS.model, choices=MODELS, metavar="MODEL",
                        help=f"{DEFAULTS.model} (default); ImageNet-style "
                             f"{', '.join(_names(registry.IMAGENET, DEFAULTS.model))}; or "
                             f"CIFAR-style {', '.join(_names(registry.CIFAR))}")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULTS.epochs)
    parser.add_argument("--image-size", type=positive_int, default=DEFAULTS.image_size)
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/train"))
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                        help="peak learning rate (default 2e-3 x sqrt(batch size / 32), "
                             "at most 4e-3)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS.precision)
    parser.add_argument("--train-size", type=positive_int, default=DEFAULTS.train_size,
                        help="images to generate for --dataset shapes")
    parser.add_argument("--validation-size", type=positive_int, default=DEFAULTS.validation_size,
                        help="images to generate for --dataset shapes")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--deterministic", action="store_true",
                        help="bit-identical re-runs with the same seed (TensorFlow's op "
                             "determinism, and XLA's deterministic GPU kernels under JAX "
                             "and XLA; slower, especially on GPUs)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random crops, shifts and flips in training (default: on for "
                             "imagenette and cifar10, off for the generated shapes)")
    parser.add_argument("--label-smoothing", type=float, default=DEFAULTS.label_smoothing,
                        help="0 gives the plain cross-entropy loss (lesson 6)")
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay,
                        help=f"AdamW's decoupled weight decay on the kernels (default "
                             f"{DEFAULTS.weight_decay})")
    parser.add_argument("--warmup-epochs", type=float, default=DEFAULTS.warmup_epochs,
                        help="epochs of linear warm-up, a fraction of one too (default: a "
                             "tenth of the epochs, at most 5)")
    parser.add_argument("--bn-momentum", type=float, default=DEFAULTS.bn_momentum,
                        help=f"momentum of BatchNorm's moving statistics (default "
                             f"{DEFAULTS.bn_momentum}; Keras' own is 0.99)")
    parser.add_argument("--no-zero-init", action="store_true",
                        help="keep Keras' initialisation of the last BatchNorm of each "
                             "residual branch (lesson 6 compares resnetN and plainN so)")
    parser.add_argument("--xla", choices=XLA, default=DEFAULTS.xla,
                        help="compile the training step with XLA (auto: Keras' choice, on "
                             "GPUs only under TensorFlow; on a CPU it can be much faster "
                             "or much slower: measure with benchmarks/time_to_accuracy.py)")
    parser.add_argument("--tensorboard", action="store_true")
    parser.add_argument("--time-limit", type=positive_seconds, default=None,
                        metavar="SECONDS",
                        help="stop after the epoch past which the next one would not end "
                             "within SECONDS of training (compilation included); run "
                             "again with the same --out to go on")
    return parser


def _names(family, leave_out=None):
    return [name for name, spec in registry.MODELS.items()
            if spec.family is family and name != leave_out]


def config_from_arguments(args):
    """The RunConfig the parsed arguments ask for (ConfigError when out of range)."""
    names = {field.name for field in dataclasses.fields(RunConfig)}
    values = {name: value for name, value in vars(args).items() if name in names}
    return RunConfig(**values, zero_init_residual=not args.no_zero_init)


def _as_options(message):
    """A RunConfig message in the command line's words: batch_size -> --batch-size."""
    for field in dataclasses.fields(RunConfig):
        message = re.sub(rf"\b{field.name}\b", "--" + field.name.replace("_", "-"), message)
    return message.replace(" (or None for the recipe's default)", "").rstrip(".")


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


DETERMINISTIC_XLA = "--xla_gpu_deterministic_ops=true"


def deterministic_xla():
    """Ask XLA for deterministic GPU kernels (scatter and reductions in a fixed order):
    what --deterministic means under JAX, and for TensorFlow's XLA-compiled steps. On a
    CPU XLA is deterministic anyway. XLA reads XLA_FLAGS when its backend starts, so this
    must run before Keras imports JAX or TensorFlow."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA}".strip()


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
    except ConfigError as error:
        parser.error(_as_options(str(error)))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a folder for the run's outputs")
    try:
        check_run_folder(config, args.out)
    except ConfigError as error:
        parser.error(str(error).rstrip("."))
    if args.tensorboard and not _installed("tensorflow"):
        parser.error("--tensorboard writes TensorFlow event files and needs TensorFlow, "
                     "which is not installed here")
    if config.deterministic:
        deterministic_xla()  # before Keras imports its backend
    import keras

    from resnet_lab import data as data_lib
    from resnet_lab import training

    keras.utils.set_random_seed(config.seed)
    if config.deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    try:
        splits = data_lib.load_dataset(config)
    except data_lib.DatasetUnavailableError as error:
        print(f"python -m resnet_lab train: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. a batch larger than a downloaded training set
        parser.error(str(error).rstrip("."))
    model = training.build_model(config, splits)
    print(f"training {config.model} on {config.dataset} ({len(splits.class_names)} classes, "
          f"{len(splits.train)} steps of {config.batch_size} per epoch) at "
          f"{config.image_size} px, {model.dtype_policy.name}, output in {args.out}",
          flush=True)
    try:
        summary = training.fit(model, splits, config.epochs, args.out, config=config,
                               tensorboard=args.tensorboard, time_limit=args.time_limit)
    except ConfigError as error:  # e.g. a batch that does not split over the devices
        parser.error(_as_options(str(error)))
    except FloatingPointError as error:
        print(f"python -m resnet_lab train: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
