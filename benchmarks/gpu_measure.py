"""ResNet-50 on one GPU, in one call: throughput next to keras.applications, then training.

Run from the repository root, on a machine with a GPU and JAX (TensorFlow is not
needed):

    python benchmarks/gpu_measure.py --out runs/gpu

It runs, each step as its own process with a time limit, all within --deadline seconds
(default 470, under 8 minutes):

0. the generated shapes at 128x128, made once into the data cache (``data/cache``), so
   that the timed steps below read them instead of drawing them;
1. ``python -m resnet_lab bench`` at 224x224 in mixed_bfloat16 with XLA: our ResNet-50
   and keras.applications' side by side, training and inference;
2. ``python -m resnet_lab bench --mode pipeline`` at 128x128: the host's batches alone,
   the augmentation alone on the GPU, and training fed by them;
3. ``python -m resnet_lab train`` of ResNet-50 on the generated shapes at 128x128 for a
   few epochs with the full recipe (augmentation on the GPU, AdamW, warm-up and cosine,
   label smoothing, bf16, XLA).

and writes one JSON, ``OUT/gpu_measure.json``: images per second, step time, time per
epoch, validation accuracy in inference mode, the device, the versions and the exact
commands. ``--tiny`` runs the same steps at sizes a CPU finishes in a minute or two (the
test suite does that). Where Keras is missing (a bare machine), ``--wheels DIR``
installs the wheels in DIR (Keras and the dependencies the machine lacks, built for its
Python) first, into a temporary folder, without touching the machine's packages.
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

FULL = {
    "data": {"image_size": 128, "train_size": 10240, "validation_size": 1024},
    "bench": ["--image-size", "224", "--batch-size", "256", "--precision", "mixed_bfloat16",
              "--xla", "on", "--steps", "32", "--warmup", "16", "--repeats", "2",
              "--peak-tflops", "989"],  # H100 SXM / H200: dense BF16, NVIDIA's datasheets
    "pipeline": ["--mode", "pipeline", "--image-size", "128", "--batch-size", "256",
                 "--precision", "mixed_bfloat16", "--xla", "on", "--steps", "32",
                 "--warmup", "16", "--repeats", "2", "--train-size", "10240"],
    "train": ["--model", "resnet50", "--dataset", "shapes", "--image-size", "128",
              "--batch-size", "256", "--epochs", "4", "--train-size", "10240",
              "--validation-size", "1024", "--precision", "mixed_bfloat16"],
    "limits": {"data": 120, "bench": 200, "pipeline": 70, "train": 240},
}
TINY = {
    "data": {"image_size": 16, "train_size": 64, "validation_size": 32},
    "bench": ["--image-size", "32", "--batch-size", "2", "--steps", "2", "--warmup", "1",
              "--repeats", "1", "--classes", "10", "--optimizer", "sgd", "--models", "ours"],
    "pipeline": ["--mode", "pipeline", "--model", "resnet8", "--image-size", "16",
                 "--batch-size", "8", "--steps", "2", "--warmup", "1", "--repeats", "1",
                 "--train-size", "64"],
    "train": ["--model", "resnet8", "--dataset", "shapes", "--image-size", "16",
              "--batch-size", "16", "--epochs", "2", "--train-size", "64",
              "--validation-size", "32"],
    "limits": {"data": 120, "bench": 300, "pipeline": 200, "train": 200},
}


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/gpu"))
    parser.add_argument("--tiny", action="store_true", help="CPU-sized runs, for the tests")
    parser.add_argument("--deadline", type=float, default=470,
                        help="seconds for everything (default 470); a step that would "
                             "start with less than 30 s left is skipped")
    parser.add_argument("--wheels", type=pathlib.Path, default=None,
                        help="a folder of wheels to install first (Keras and its "
                             "pure-Python dependencies), for a machine without Keras")
    return parser


def _environment(wheels):
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
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


def _run(name, arguments, limit, started, deadline, env, out, python_code=None):
    """One step as a child process; its record (or why there is none)."""
    left = deadline - (time.monotonic() - started)
    if left < 30:
        return {"skipped": f"{left:.0f} s left of the deadline"}
    limit = min(limit, left)
    if python_code:
        command, shown = [sys.executable, "-c", python_code], f"python -c {python_code!r}"
    else:
        command = [sys.executable, "-m", "resnet_lab", *arguments]
        shown = "python -m resnet_lab " + " ".join(arguments)
    print(f"== {shown} (at most {limit:.0f} s)", flush=True)
    begin = time.monotonic()
    try:
        result = subprocess.run(command, env=env, cwd=REPOSITORY, timeout=limit, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired as expired:
        output = expired.output or b""  # bytes, even with text=True
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        (out / f"{name}.log").write_text(output)
        return {"command": shown, "error": f"stopped after {limit:.0f} s"}
    (out / f"{name}.log").write_text(result.stdout)
    print(result.stdout[-1500:], flush=True)
    record = {"command": shown, "seconds": round(time.monotonic() - begin, 1),
              "returncode": result.returncode}
    if result.returncode != 0:
        record["error"] = result.stdout.strip().splitlines()[-1:] or ["no output"]
    return record


def main(argv=None):
    # resnet_lab from this copy of the repository, as the steps use it, installed or not
    # (resnet_lab.files needs only the standard library).
    sys.path.insert(0, str(REPOSITORY))
    from resnet_lab.files import write_json_atomically

    args = _parser().parse_args(argv)
    sizes = TINY if args.tiny else FULL
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = _environment(args.wheels)
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report = {"script": "benchmarks/gpu_measure.py", "date": date,
              "arguments": sys.argv[1:] if argv is None else list(argv)}

    data = sizes["data"]
    report["data"] = _run("data", [], sizes["limits"]["data"], started, args.deadline, env,
                          out, python_code=(
                              "from resnet_lab import data; data.load_arrays('shapes', "
                              f"{data['image_size']}, train_size={data['train_size']}, "
                              f"validation_size={data['validation_size']})"))

    for name in ("bench", "pipeline"):  # two runs of python -m resnet_lab bench
        path = out / f"{name}.json"
        step = _run(name, ["bench", *sizes[name], "--json", str(path)],
                    sizes["limits"][name], started, args.deadline, env, out)
        if path.exists() and "error" not in step:
            step["results"] = json.loads(path.read_text())
        report[name] = step

    run_folder = out / "train"
    step = _run("train", ["train", *sizes["train"], "--out", str(run_folder)],
                sizes["limits"]["train"], started, args.deadline, env, out)
    if (run_folder / "summary.json").exists():  # also if only the curves failed
        step["summary"] = json.loads((run_folder / "summary.json").read_text())
        step["history"] = _history(run_folder / "history.csv")
    report["train"] = step

    for part in ("bench", "pipeline", "train"):  # the device and versions, once
        results = report[part].get("results") or {}
        if results.get("device"):
            report["device"], report["versions"] = results["device"], results["versions"]
            break
    report["seconds"] = round(time.monotonic() - started, 1)
    write_json_atomically(out / "gpu_measure.json", report)
    print(summary_lines(report), flush=True)
    failed = [part for part in ("data", "bench", "pipeline", "train")
              if "error" in report[part] or "skipped" in report[part]]
    return 1 if failed else 0


def _history(path):
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {column: [float(row[column]) for row in rows] for column in (rows[0] if rows else [])}


def summary_lines(report):
    """A few lines to paste: the figures that matter, or why a step has none."""
    lines = [f"== {report['date']}: {report.get('device', {}).get('name', 'device unknown')}, "
             f"{report['seconds']} s"]
    bench = report["bench"].get("results")
    if bench:
        for entry in bench["models"].values():
            rates = ", ".join(f"{phase} {entry[phase]['images_per_second']:.0f} img/s"
                              for phase in ("training", "inference") if phase in entry)
            lines.append(f"{entry['model']}: {rates}")
    pipeline = report["pipeline"].get("results")
    if pipeline:
        lines.append(f"host batches {pipeline['pipeline_alone']['images_per_second']:.0f} "
                     f"img/s, augmentation on the device "
                     f"{pipeline['augmentation_on_device']['images_per_second']:.0f} img/s, "
                     f"training fed by them "
                     f"{pipeline['training_from_pipeline']['images_per_second']:.0f} img/s")
    summary = report["train"].get("summary")
    if summary:
        lines.append(f"train: {summary['images_per_second']:.0f} img/s, "
                     f"{summary['step_ms']:.0f} ms a step, {summary['epoch_seconds']:.1f} s "
                     f"an epoch, validation accuracy {summary['final_val_accuracy']:.3f} "
                     f"(inference mode)")
    for part in ("data", "bench", "pipeline", "train"):
        problem = report[part].get("error") or report[part].get("skipped")
        if problem:
            lines.append(f"{part}: {problem}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
