"""Validation accuracy against training seconds: how fast does a recipe learn here?

    python benchmarks/time_to_accuracy.py run --label lesson05-cpu --out runs/tta/lesson05 \
        [the options of python -m resnet_lab train] [--every 10]
    python benchmarks/time_to_accuracy.py plot runs/tta/*/time_to_accuracy.json --out tta.png

``run`` trains one recipe exactly as ``python -m resnet_lab train`` does (the same
RunConfig, ``training.build_model`` and ``training.fit`` with its checkpoints and
per-epoch validation) and, every ``--every`` training steps, pauses the clock and
measures the validation accuracy in inference mode. The clock counts what a real run
spends (the training steps, tracing, the per-epoch validation and checkpoints), not the
benchmark's own measurements. It writes ``OUT/time_to_accuracy.json``: the settings,
the machine and versions, the command, and one point per measurement (step, images
seen, training seconds, validation accuracy), with the seconds it took to reach
``--target``. ``plot`` draws accuracy against seconds for one or more such files.

benchmarks/README.md holds the recipes tried so far, the losers too.
"""

import datetime
import json
import pathlib
import shlex
import sys
import time

from resnet_lab.commands import OneLineParser, positive_int
from resnet_lab.commands import train as train_command
from resnet_lab.config import ConfigError


def _parser():
    parser = OneLineParser(prog="python benchmarks/time_to_accuracy.py",
                           description="Validation accuracy against training seconds.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[train_command._parser()], add_help=False,
                              help="train a recipe and record accuracy against seconds")
    run.add_argument("--label", required=True, help="the recipe's name in tables and plots")
    run.add_argument("--every", type=positive_int, default=None,
                     help="training steps between measurements (default: 10 per run)")
    run.add_argument("--target", type=float, default=0.85,
                     help="the validation accuracy whose time is reported (default 0.85)")
    plot = commands.add_parser("plot", help="accuracy against seconds for result files")
    plot.add_argument("results", nargs="+", type=pathlib.Path)
    plot.add_argument("--out", type=pathlib.Path, required=True, help="the image to write")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "plot":
        return plot(args.results, args.out, parser)
    if not 0 < args.target <= 1:
        parser.error(f"--target must be above 0 and at most 1; got {args.target}")
    try:
        config = train_command.config_from_arguments(args)
    except ConfigError as error:
        parser.error(train_command._as_options(str(error)))
    if (args.out / "history.csv").exists():
        parser.error(f"--out {args.out} holds a run already; a benchmark starts afresh: "
                     f"give a new folder")
    return run(config, args, sys.argv[1:] if argv is None else argv)


def run(config, args, argv):
    import keras
    import numpy as np

    from resnet_lab import data, training
    from resnet_lab.commands.bench import environment

    class AccuracyClock(keras.callbacks.Callback):
        """Every ``every`` steps, the validation accuracy in inference mode; the time
        this takes is taken off the clock."""

        def __init__(self, every):
            super().__init__()
            self.every, self.points, self.paused, self.step = every, [], 0.0, 0

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step % self.every == 0 or self.step == total_steps:
                self.measure()

        def measure(self):
            clock = time.perf_counter()
            seconds = clock - self.start - self.paused
            network = training.inference_model(self.model)
            hits = count = 0
            for images, labels in splits.validation:
                predicted = np.argmax(network.predict_on_batch(images), axis=1)
                hits += int(np.sum(predicted == np.argmax(labels, axis=1)))
                count += len(labels)
            self.points.append({"step": self.step, "images": self.step * config.batch_size,
                                "seconds": round(seconds, 2),
                                "val_accuracy": round(hits / count, 4)})
            print(f"  step {self.step}: {seconds:6.1f} s, validation accuracy "
                  f"{hits / count:.3f}", flush=True)
            self.paused += time.perf_counter() - clock

    keras.utils.set_random_seed(config.seed)
    splits = data.load_dataset(config)
    total_steps = len(splits.train) * config.epochs
    every = args.every or max(1, total_steps // 10)
    model = training.build_model(config, splits)
    clock = AccuracyClock(every)
    print(f"{args.label}: {config.model} on {config.dataset}, {total_steps} steps of "
          f"{config.batch_size}, measured every {every} steps", flush=True)
    summary = training.fit(model, splits, config.epochs, args.out, config=config,
                           verbose=0, callbacks=[clock])
    reached = [p["seconds"] for p in clock.points if p["val_accuracy"] >= args.target]
    record = {
        "label": args.label,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/time_to_accuracy.py " + shlex.join(argv),
        **environment(),
        "config": config.to_dict(),
        "points": clock.points,
        "target": args.target,
        "seconds_to_target": reached[0] if reached else None,
        "final_val_accuracy": clock.points[-1]["val_accuracy"],
        "training_seconds": clock.points[-1]["seconds"],
        "images_per_second": summary["images_per_second"],
    }
    path = args.out / "time_to_accuracy.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    target = (f"{args.target:.0%} after {reached[0]:.0f} s" if reached
              else f"{args.target:.0%} not reached")
    print(f"{args.label}: final validation accuracy {record['final_val_accuracy']:.1%} after "
          f"{record['training_seconds']:.0f} s of training; {target}; written to {path}")
    return 0


def plot(paths, out, parser):
    records = []
    for path in paths:
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            parser.error(f"{path} is not a result of 'run' ({error})")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    axes = figure.add_subplot()
    for record in records:
        points = record["points"]
        axes.plot([p["seconds"] for p in points], [p["val_accuracy"] for p in points],
                  marker="o", markersize=3, label=record["label"])
    axes.axhline(records[0]["target"], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("training seconds")
    axes.set_ylabel("validation accuracy (inference mode)")
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8)
    axes.set_title(f"{records[0]['device']['name']}, backend {records[0]['backend']}",
                   fontsize=9)
    figure.savefig(out, dpi=100, bbox_inches="tight")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
