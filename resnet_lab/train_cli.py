"""python -m resnet_lab train: the training recipe of resnet_lab.training, headless.

Arguments are checked before TensorFlow is imported, so a mistake gets one line and
exit code 2 at once, not seconds of start-up log first.
"""

import argparse
import json
import pathlib
import sys

MODELS = ("resnet50", *(f"{kind}{depth}" for kind in ("resnet", "plain")
                        for depth in (8, 14, 20, 32, 44, 56, 110)))  # see models.cifar_resnet
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
MIN_IMAGE_SIZE = 32  # resnet_lab.models.MIN_INPUT_SIZE, checked by a test
MIN_CIFAR_IMAGE_SIZE = 8  # resnet_lab.models.CIFAR_MIN_INPUT_SIZE, checked too
DATASETS = ("shapes", "imagenette", "cifar10")  # resnet_lab.data.DATASETS, checked too

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser():
    parser = _Parser(prog="python -m resnet_lab train",
                     description="Train ResNet-50, or a CIFAR-style ResNet or plain network, "
                                 "from scratch; re-run with the same --out to resume "
                                 "after an interruption.")
    parser.add_argument("--dataset", default=DATASETS[0], choices=DATASETS,
                        help="shapes needs no network (default); the others download once")
    parser.add_argument("--model", default="resnet50", choices=MODELS,
                        help="resnet50, or a CIFAR-style resnet8..110 / plain8..110")
    parser.add_argument("--epochs", type=_positive, default=5)
    parser.add_argument("--image-size", type=_positive, default=32)
    parser.add_argument("--batch-size", type=_positive, default=32)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/train"))
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate (default 2e-3 x sqrt(batch size / 32), "
                             "at most 4e-3)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--train-size", type=_positive, default=4000,
                        help="images to generate for --dataset shapes")
    parser.add_argument("--validation-size", type=_positive, default=1000,
                        help="images to generate for --dataset shapes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deterministic", action="store_true",
                        help="bit-identical re-runs with the same seed (TensorFlow op "
                             "determinism; slower, especially on GPUs)")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="0 gives the plain cross-entropy loss (lesson 6)")
    parser.add_argument("--no-zero-init", action="store_true",
                        help="keep Keras' initialisation of the last BatchNorm of each "
                             "residual branch (lesson 6 compares resnetN and plainN so)")
    parser.add_argument("--tensorboard", action="store_true")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.model == "resnet50" and args.image_size < MIN_IMAGE_SIZE:
        parser.error(f"--image-size must be at least {MIN_IMAGE_SIZE} for ResNet-50 "
                     f"(it halves the image five times); got {args.image_size}")
    if args.image_size < MIN_CIFAR_IMAGE_SIZE:
        parser.error(f"--image-size must be at least {MIN_CIFAR_IMAGE_SIZE} for "
                     f"{args.model} (it halves the image twice); got {args.image_size}")
    if not 0 <= args.label_smoothing < 1:
        parser.error(f"--label-smoothing must be at least 0 and below 1; got "
                     f"{args.label_smoothing}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a folder for the run's outputs")
    import keras

    from resnet_lab import data as data_lib
    from resnet_lab.training import build_model, fit

    keras.utils.set_random_seed(args.seed)
    if args.deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    try:
        splits = data_lib.load_dataset(
            args.dataset, args.image_size, args.batch_size, train_size=args.train_size,
            validation_size=args.validation_size, augment=not args.no_augment,
            seed=args.seed)
    except data_lib.DatasetUnavailableError as error:
        print(f"python -m resnet_lab train: error: {error}", file=sys.stderr)
        return 1
    steps = int(splits.train.cardinality())
    if steps < 1:
        parser.error(f"--batch-size {args.batch_size} is larger than the training set")
    model = build_model(len(splits.class_names), args.image_size, model=args.model,
                        batch_size=args.batch_size, steps_per_epoch=steps,
                        epochs=args.epochs, learning_rate=args.learning_rate,
                        label_smoothing=args.label_smoothing,
                        zero_init_residual=not args.no_zero_init,
                        precision=args.precision, seed=args.seed)
    print(f"training {args.model} on {args.dataset} ({len(splits.class_names)} classes, "
          f"{steps} steps of {args.batch_size} per epoch) at {args.image_size} px, "
          f"{model.dtype_policy.name}, output in {args.out}", flush=True)
    try:
        summary = fit(model, splits, args.epochs, args.out, tensorboard=args.tensorboard)
    except FloatingPointError as error:
        print(f"python -m resnet_lab train: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
