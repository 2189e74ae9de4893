"""ResNet-50 on one GPU, in one call: throughput next to keras.applications, then training.

Run from the repository root, on a machine with a GPU and JAX (TensorFlow is not
needed):

    python benchmarks/gpu_measure.py --out runs/gpu

It runs four steps, each as its own process, within --budget seconds (default 470,
under 8 minutes), compilation included:

1. data: the generated shapes at 128x128, made once into the data cache
   (``data/cache``) for the two steps that read them. The step times a sample first
   and makes as many training images as its share of the budget allows (up to 10,240).
2. bench: ``python -m resnet_lab bench`` at 224x224 in mixed_bfloat16 with XLA: our
   ResNet-50 and keras.applications' side by side, training and inference.
3. pipeline: ``python -m resnet_lab bench --mode pipeline`` at 128x128: the host's
   batches alone, the augmentation alone on the GPU, and training fed by them.
4. train: ``python -m resnet_lab train`` of ResNet-50 on those shapes at 128x128 for a
   few epochs with the full recipe (augmentation on the GPU, AdamW, warm-up and cosine,
   label smoothing, bf16, XLA).

**How it keeps to the budget.** Each step has a share of it (``SHARES``: 10%, 42%, 18%
and 25%; 5% is kept for start-up and the report), and a step may use what the steps
before it left over, never what is set aside for the steps after it, so the time limits
add up to 95% of the budget whatever happens. Within its limit a step watches its own
clock and stops early, keeping what it measured: ``bench --time-budget`` runs fewer
rounds or leaves a phase out, ``train --time-limit`` stops after an epoch. A step that
still runs at its limit is stopped, and what it wrote so far (bench writes its JSON
after each phase, train its history after each epoch) is kept. Each step compiles each
program once (the in-memory batches have the pipeline's uint8 dtype), and the compiled
programs go to a persistent JAX cache in OUT, so a second call compiles far less.

It writes one JSON, ``OUT/gpu_measure.json`` (after every step, atomically): images per
second, step time, time per epoch, compile times, validation accuracy in inference mode,
the device, the versions, the plan of limits and the exact commands; each step's log;
and prints a few lines to paste. ``--tiny`` runs the same steps at sizes a CPU finishes
in about a minute (the test suite does that). Where Keras is missing (a bare machine),
``--wheels DIR`` installs the wheels in DIR (benchmarks/README.md lists them) into a
temporary folder first, without touching the machine's packages.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
STEPS = ("data", "bench", "pipeline", "train")
# Each step's share of the budget; 5% is kept for start-up and writing the report.
SHARES = {"data": 0.10, "bench": 0.42, "pipeline": 0.18, "train": 0.25}
KEPT = 1 - sum(SHARES.values())
MIN_STEP_SECONDS = 10  # a step with less time than this is skipped

FULL = {
    "data": {"image_size": 128, "train_size": 10240, "validation_size": 1024,
             "batch_size": 256},
    "bench": ["--image-size", "224", "--batch-size", "256", "--precision", "mixed_bfloat16",
              "--xla", "on", "--steps", "32", "--warmup", "16", "--repeats", "3",
              "--peak-tflops", "989"],  # H100 SXM / H200: dense BF16, NVIDIA's datasheets
    "pipeline": ["--mode", "pipeline", "--image-size", "128", "--batch-size", "256",
                 "--precision", "mixed_bfloat16", "--xla", "on", "--steps", "32",
                 "--warmup", "16", "--repeats", "3"],
    "train": ["--model", "resnet50", "--dataset", "shapes", "--image-size", "128",
              "--batch-size", "256", "--epochs", "4", "--precision", "mixed_bfloat16",
              "--augment"],
}
TINY = {
    "data": {"image_size": 16, "train_size": 64, "validation_size": 32, "batch_size": 16},
    "bench": ["--image-size", "32", "--batch-size", "2", "--steps", "2", "--warmup", "1",
              "--repeats", "1", "--classes", "10", "--optimizer", "sgd", "--models", "ours"],
    "pipeline": ["--mode", "pipeline", "--model", "resnet8", "--image-size", "16",
                 "--batch-size", "8", "--steps", "2", "--warmup", "1", "--repeats", "1"],
    "train": ["--model", "resnet8", "--dataset", "shapes", "--image-size", "16",
              "--batch-size", "16", "--epochs", "2", "--augment"],
}


def _parser():
    from resnet_lab.commands import positive_seconds  # standard library only

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/gpu"))
    parser.add_argument("--tiny", action="store_true", help="CPU-sized runs, for the tests")
    parser.add_argument("--budget", type=positive_seconds, default=470, metavar="SECONDS",
                        help="seconds for everything, compilation included (default 470); "
                             "each step gets its share (see the module's docstring)")
    parser.add_argument("--wheels", type=pathlib.Path, default=None,
                        help="a folder of wheels to install first (Keras and the "
                             "dependencies a JAX machine lacks, see benchmarks/README.md)")
    return parser


def _environment(wheels, out):
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    # Compiled programs kept across the steps' processes and across calls: a second
    # call (after a failure, say) compiles far less.
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(out / "jax-cache"))
    paths = [str(REPOSITORY)]
    if wheels is not None:
        site = tempfile.mkdtemp(prefix="resnet-lab-wheels-")
        found = sorted(str(p) for p in wheels.glob("*.whl"))
        if not found:
            raise SystemExit(f"gpu_measure: error: no .whl files in {wheels}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                        "--no-deps", "--no-compile", "--target", site, *found], check=True)
        paths.insert(0, site)
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class Clock:
    """The budget, split into the steps' limits.

    A step's limit is what is left of the budget minus the shares of the steps after it
    and the part kept for the report: the limits add up to at most (1 - KEPT) x budget,
    and time a step leaves unused passes to the next one.
    """

    def __init__(self, budget, now=time.monotonic):
        self.budget, self.now = budget, now
        self.start = now()

    def elapsed(self):
        return self.now() - self.start

    def limit(self, step):
        later = sum(SHARES[name] for name in STEPS[STEPS.index(step) + 1:])
        return self.budget * (1 - KEPT - later) - self.elapsed()

    def plan(self):
        return {step: round(SHARES[step] * self.budget) for step in STEPS}


def own_budget(limit):
    """The seconds a step is told to keep to: its limit less time to start its process
    and to write what it measured (at least 15 s, or a fifth of the limit)."""
    return max(limit - max(15.0, 0.2 * limit), 0.5 * limit)


def _run(name, command, shown, limit, env, out):
    """One step as a child process, stopped at ``limit`` seconds; its record."""
    if limit < MIN_STEP_SECONDS:
        return {"skipped": f"{max(0, limit):.0f} s left for it"}
    print(f"== {name}: {shown} (at most {limit:.0f} s)", flush=True)
    begin = time.monotonic()
    try:
        result = subprocess.run(command, env=env, cwd=REPOSITORY, timeout=limit, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, returncode = result.stdout, result.returncode
    except subprocess.TimeoutExpired as expired:
        output = expired.output or b""  # bytes, even with text=True
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        returncode = None
    (out / f"{name}.log").write_text(output)
    print(output[-1500:], flush=True)
    record = {"command": shown, "limit_seconds": round(limit, 1),
              "seconds": round(time.monotonic() - begin, 1), "returncode": returncode}
    if returncode is None:
        record["error"] = f"stopped at its limit of {limit:.0f} s; what it wrote is kept"
    elif returncode != 0:
        record["error"] = (output.strip().splitlines() or ["no output"])[-1]
    return record


def prepare_data(image_size, train_size, validation_size, batch_size, seconds):
    """Make the shapes into the data cache; print what was made as one JSON line.

    Unless they are cached already, a sample of 256 images is timed first and the
    training split cut (to whole batches, at least 4) so that the drawing fits
    ``seconds``.
    """
    from resnet_lab import data

    start = time.perf_counter()
    record = {"requested_train_size": train_size}
    if not data.shapes_cached(image_size, train_size=train_size,
                              validation_size=validation_size):
        sample = min(256, train_size)
        begin = time.perf_counter()
        data.make_shapes(sample, image_size, seed=12345)
        rate = sample / (time.perf_counter() - begin)
        affordable = 0.85 * rate * (seconds - (time.perf_counter() - start)) - validation_size
        if affordable < train_size:
            train_size = max(4 * batch_size, int(affordable // batch_size) * batch_size)
        record["images_per_second"] = round(rate, 1)
    data.load_arrays("shapes", image_size, train_size=train_size,
                     validation_size=validation_size)
    record.update(train_size=train_size, validation_size=validation_size,
                  seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(record), flush=True)


def main(argv=None):
    # resnet_lab from this copy of the repository, as the steps use it, installed or not
    # (resnet_lab.files needs only the standard library).
    sys.path.insert(0, str(REPOSITORY))
    from resnet_lab.files import write_json_atomically

    args = _parser().parse_args(argv)
    sizes = TINY if args.tiny else FULL
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.budget)  # installing the wheels counts too
    env = _environment(args.wheels, out)
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report = {"script": "benchmarks/gpu_measure.py", "date": date,
              "arguments": sys.argv[1:] if argv is None else list(argv),
              "budget_seconds": args.budget, "plan_seconds": clock.plan()}
    print(f"== budget {args.budget:g} s: " + ", ".join(
        f"{step} {seconds} s" for step, seconds in clock.plan().items())
        + f" (time a step leaves passes to the next), {KEPT * args.budget:.0f} s kept",
        flush=True)

    def save():
        report["seconds"] = round(clock.elapsed(), 1)
        write_json_atomically(out / "gpu_measure.json", report)

    # 1. data
    wanted = sizes["data"]
    limit = clock.limit("data")
    code = (f"import sys; sys.path.insert(0, {str(REPOSITORY / 'benchmarks')!r}); "
            f"import gpu_measure; gpu_measure.prepare_data({wanted['image_size']}, "
            f"{wanted['train_size']}, {wanted['validation_size']}, {wanted['batch_size']}, "
            f"{own_budget(limit):.0f})")
    step = _run("data", [sys.executable, "-c", code], "prepare_data(...)", limit, env, out)
    made = _last_json_line(out / "data.log")
    if made:
        step["made"] = made
    report["data"] = step
    save()
    # Without the data step's answer, the later steps draw a small set themselves.
    train_size = made["train_size"] if made else 4 * wanted["batch_size"]
    sized = ["--train-size", str(train_size),
             "--validation-size", str(wanted["validation_size"])]

    # 2. and 3. two runs of python -m resnet_lab bench
    for name, arguments in (("bench", sizes["bench"]),
                            ("pipeline", sizes["pipeline"] + sized)):
        limit = clock.limit(name)
        path = out / f"{name}.json"
        path.unlink(missing_ok=True)
        arguments = [*arguments, "--time-budget", f"{own_budget(limit):.0f}",
                     "--json", str(path)]
        step = _run(name, [sys.executable, "-m", "resnet_lab", "bench", *arguments],
                    "python -m resnet_lab bench " + " ".join(arguments), limit, env, out)
        if path.exists():  # complete, or the phases finished before it was stopped
            step["results"] = json.loads(path.read_text())
        report[name] = step
        save()

    # 4. train
    limit = clock.limit("train")
    # A second call resumes (or reuses) the run of the same size; another size starts anew.
    run_folder = out / f"train-{train_size}"
    arguments = [*sizes["train"], *sized, "--time-limit", f"{own_budget(limit):.0f}",
                 "--out", str(run_folder)]
    step = _run("train", [sys.executable, "-m", "resnet_lab", "train", *arguments],
                "python -m resnet_lab train " + " ".join(arguments), limit, env, out)
    if (run_folder / "summary.json").exists():  # also if only the curves failed
        step["summary"] = json.loads((run_folder / "summary.json").read_text())
    if (run_folder / "history.csv").exists():  # the finished epochs, even if stopped
        step["history"] = _history(run_folder / "history.csv")
    report["train"] = step

    for part in ("bench", "pipeline"):  # the device and versions, once
        results = report[part].get("results") or {}
        if results.get("device"):
            report["device"], report["versions"] = results["device"], results["versions"]
            break
    save()
    print(summary_lines(report), flush=True)
    failed = [part for part in STEPS if "error" in report[part] or "skipped" in report[part]]
    return 1 if failed else 0


def _last_json_line(path):
    for line in reversed(path.read_text().splitlines() if path.exists() else []):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _history(path):
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {column: [float(row[column]) for row in rows] for column in (rows[0] if rows else [])}


def summary_lines(report):
    """A few lines to paste: the figures that matter, or why a step has none."""
    lines = [f"== {report['date']}: {report.get('device', {}).get('name', 'device unknown')}, "
             f"{report['seconds']} s of a {report['budget_seconds']:g} s budget"]
    made = report["data"].get("made")
    if made:
        lines.append(f"data: {made['train_size']} training images, " + (
            f"drawn at {made['images_per_second']:.0f} img/s" if "images_per_second" in made
            else "from the cache"))
    bench = report["bench"].get("results")
    if bench:
        for entry in bench["models"].values():
            rates = ", ".join(f"{phase} {entry[phase]['images_per_second']:.0f} img/s "
                              f"(compiled in {entry[phase]['warmup_seconds']:.0f} s)"
                              for phase in ("training", "inference") if phase in entry)
            lines.append(f"{entry['model']}: {rates or 'not measured'}")
    pipeline = report["pipeline"].get("results")
    if pipeline:
        parts = [("host batches", "pipeline_alone"),
                 ("augmentation on the device", "augmentation_on_device"),
                 ("training fed by them", "training_from_pipeline")]
        lines.append(", ".join(f"{label} {pipeline[key]['images_per_second']:.0f} img/s"
                               for label, key in parts
                               if "images_per_second" in pipeline.get(key, {})))
    for part in ("bench", "pipeline"):
        for reason in (report[part].get("results") or {}).get("stopped", []):
            lines.append(f"{part} stopped by its time budget: {reason}")
    summary = report["train"].get("summary")
    if summary and summary["epochs_finished"]:
        lines.append(f"train: {summary['images_per_second']:.0f} img/s, "
                     f"{summary['step_ms']:.0f} ms a step, {summary['epoch_seconds']:.1f} s "
                     f"an epoch, the first {summary['first_epoch_seconds']:.1f} s, "
                     f"{summary['epochs_finished']} of {summary['epochs_requested']} epochs, "
                     f"validation accuracy {summary['final_val_accuracy']:.3f} "
                     f"(inference mode)")
    for part in STEPS:
        problem = report[part].get("error") or report[part].get("skipped")
        if problem:
            lines.append(f"{part}: {problem}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
