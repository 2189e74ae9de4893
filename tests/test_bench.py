"""python -m resnet_lab bench: a tiny run works and its JSON is well-formed.

A benchmark, not a test of speed: nothing here asserts a timing.
"""

import importlib.metadata
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import keras
import pytest

from resnet_lab import env, training
from resnet_lab.commands import bench

# The smallest run that still goes through every part: 32x32 (ResNet-50's minimum),
# batch 2, one round. Tracing a training step of ResNet-50 with the recipe's AdamW
# took ~25 s per model on a 2-core CPU (plain SGD: ~9 s), so the training path is
# tested with one model and SGD, and the side-by-side table with inference.
TINY = ["--image-size", "32", "--batch-size", "2", "--steps", "2", "--warmup", "1",
        "--repeats", "1", "--classes", "10"]


def run_bench(capsys, *args):
    previous = keras.config.dtype_policy()
    assert bench.main([*TINY, *args, "--json", "-"]) == 0
    assert keras.config.dtype_policy() == previous  # the global policy is left alone
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def check_record(record, phases, models):
    assert record["mode"] == "synthetic"
    assert record["device"]["kind"] in ("cpu", "gpu", "tpu") and record["device"]["name"]
    assert record["backend"] == keras.backend.backend()
    assert record["versions"]["keras"] == keras.__version__
    assert record["precision"] == training.precision_for_device()  # the recipe's choice
    assert record["xla"] is (env.accelerator().kind != "cpu"
                             or keras.backend.backend() == "jax")  # Keras' "auto"
    assert (record["image_size"], record["batch_size"], record["steps"]) == (32, 2, 2)
    assert record["command"].startswith("python -m resnet_lab bench")
    assert set(record["models"]) == set(models)
    for name in models:
        entry = record["models"][name]
        assert entry["model"] == bench.MODEL_NAMES[name]
        for phase in phases:
            assert entry[phase]["images_per_second"] > 0
            assert len(entry[phase]["runs"]) == 1
            assert entry[phase]["warmup_seconds"] > 0


def test_inference_of_both_models_gives_a_table_and_json_with_the_ratio(capsys):
    record, table = run_bench(capsys, "--no-training")
    check_record(record, ["inference"], ["ours", "keras"])
    assert set(record["ratio_ours_to_keras"]) == {"inference"}
    assert record["ratio_ours_to_keras"]["inference"] > 0
    paired = record["ratio_ours_to_keras_paired"]["inference"]
    assert len(paired["runs"]) == 1 and paired["median"] > 0
    assert "ratio ours / keras.applications" in table
    assert "keras.applications.ResNet50" in table and "resnet_lab.ResNet50" in table


def test_training_throughput_of_one_model_is_measured(capsys):
    record, _ = run_bench(capsys, "--models", "ours", "--no-inference", "--optimizer", "sgd")
    check_record(record, ["training"], ["ours"])
    assert record["models"]["ours"]["training"]["model_tflops"] > 0
    assert record["ratio_ours_to_keras"] == {}
    assert record["optimizer"] == "sgd"


def test_a_spent_time_budget_keeps_what_was_measured_and_names_what_was_left_out(
        monkeypatch):
    """--time-budget: here the budget is spent as soon as the first model's warm-up
    (its compilation) ends. That model still gets its first round; the second model is
    left out and said so, in the record and in the table; the record is saved after the
    phase (a run stopped from outside keeps it)."""
    args = bench._parser().parse_args([*TINY, "--no-training", "--repeats", "2",
                                       "--time-budget", "3600"])
    budget = bench.Budget(args.time_budget)
    measure = bench.run_steps

    def then_spent(*arguments, **keywords):
        seconds = measure(*arguments, **keywords)
        budget.end = time.monotonic() - 1
        return seconds

    monkeypatch.setattr(bench, "run_steps", then_spent)
    saved = []
    record = bench.synthetic(args, budget, saved.append)
    assert saved and saved[-1]["models"]["ours"]["inference"] == record["models"]["ours"][
        "inference"]
    assert len(record["models"]["ours"]["inference"]["runs"]) == 1
    assert "inference" not in record["models"]["keras"]
    assert record["ratio_ours_to_keras"] == {}
    assert record["stopped"] == [
        "inference of keras.applications.ResNet50 not measured: the time budget was spent",
        "inference: 1 of 2 rounds in the time budget"]
    table = bench.table({**bench.environment(), **record, "command": "bench"})
    assert "not measured" in table
    assert "stopped by the time budget (3600 s): inference: 1 of 2 rounds" in table


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "resnet_lab", "bench", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("args", [
    ["--image-size", "16"],
    ["--batch-size", "0"],
    ["--models", "ours,vgg"],
    ["--precision", "float64"],
    ["--no-training", "--no-inference"],
    ["--mode", "video"],
    ["--model", "resnet8"],  # synthetic mode compares ResNet-50s
    ["--time-budget", "0"],
    ["--validation-size", "8"],  # pipeline mode only
])
def test_bad_arguments_get_one_line_and_exit_code_2(args):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("python -m resnet_lab bench: error:")
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_pipeline_mode_measures_the_host_the_augmentation_and_training_fed_by_them(capsys):
    assert bench.main(["--mode", "pipeline", "--model", "resnet8", "--image-size", "16",
                       "--batch-size", "8", "--steps", "2", "--warmup", "1", "--repeats", "1",
                       "--train-size", "32", "--json", "-"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["mode"] == "pipeline" and record["model"] == "resnet8"
    for part in ("pipeline_alone", "augmentation_on_device", "training_from_pipeline",
                 "training_in_memory"):
        assert record[part]["images_per_second"] > 0, part
    assert record["ratio_pipeline_alone_to_training"] > 0
    assert "shapes batches alone (host)" in captured.err
    assert "augmentation alone (device)" in captured.err


GPU_MEASURE = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu_measure.py"
BENCHMARKS_README = pathlib.Path(__file__).parents[1] / "benchmarks" / "README.md"


def gpu_measure_module():
    spec = importlib.util.spec_from_file_location("gpu_measure", GPU_MEASURE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_measurement_limits_add_up_to_less_than_its_budget():
    """Whatever the steps take, their limits add up to the budget less the part kept for
    the report; time a step leaves passes to the next one, never time set aside for the
    steps after it."""
    gpu_measure = gpu_measure_module()
    assert sum(gpu_measure.SHARES.values()) + gpu_measure.KEPT == pytest.approx(1)
    for used in (1.0, 0.5, 0.0):  # each step uses all, half, none of its limit
        elapsed = [0.0]
        clock = gpu_measure.Clock(470, now=lambda elapsed=elapsed: elapsed[0])
        limits = {}
        for step in gpu_measure.STEPS:
            limits[step] = clock.limit(step)
            elapsed[0] += used * limits[step]
        assert elapsed[0] <= 470 * (1 - gpu_measure.KEPT) + 1e-9
        assert limits["data"] == pytest.approx(0.10 * 470)
        if used == 1.0:  # every step gets exactly its share
            assert list(limits.values()) == pytest.approx([47, 197.4, 84.6, 117.5])
        if used == 0.0:  # the last step may use everything left but the kept part
            assert limits["train"] == pytest.approx(0.95 * 470)
    for limit in (10, 60, 200):  # a step is told to stop well before it is stopped
        assert 0 < gpu_measure.own_budget(limit) <= limit - min(15, limit / 2)


def test_a_step_still_running_at_its_limit_is_stopped_and_its_output_kept(tmp_path,
                                                                          monkeypatch):
    """The hard limit: a step that never ends (here it waits on an event nobody sets)
    is stopped at its limit; its log is kept, and so is the JSON it wrote first."""
    gpu_measure = gpu_measure_module()
    monkeypatch.setattr(gpu_measure, "MIN_STEP_SECONDS", 0)
    partial = tmp_path / "bench.json"
    code = (f"import json, pathlib, threading; pathlib.Path({str(partial)!r}).write_text("
            f"json.dumps({{'complete': False}})); print('phase 1 measured', flush=True); "
            f"threading.Event().wait()")
    record = gpu_measure._run("bench", [sys.executable, "-c", code], "a step", 2,
                              dict(os.environ), tmp_path)
    assert record["returncode"] is None
    assert record["error"] == "stopped at its limit of 2 s; what it wrote is kept"
    assert "phase 1 measured" in (tmp_path / "bench.log").read_text()
    assert json.loads(partial.read_text()) == {"complete": False}


def readme_wheel_command(python_version, folder):
    """The pip download command benchmarks/README.md gives, for this Python and folder."""
    text = BENCHMARKS_README.read_text()
    block = next(block for block in text.split("```")[1::2] if "pip download" in block)
    words = block.replace("\\\n", " ").split()
    assert words[:4] == ["python3", "-m", "pip", "download"], words[:4]
    words[words.index("--python-version") + 1] = python_version
    words[words.index("-d") + 1] = str(folder)
    return words[1:]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="checks the JAX path from the TensorFlow run")
@pytest.mark.slow  # about 2 minutes on 2 cores: a new environment with JAX from PyPI
@pytest.mark.timeout(1200)
def test_the_gpu_measurement_runs_on_jax_with_the_readmes_wheels_alone(tmp_path):
    """benchmarks/gpu_measure.py --tiny in a new virtual environment that has JAX and
    nothing else, as on a GPU machine without TensorFlow or Keras, with the wheels that
    benchmarks/README.md's pip download command fetches: the script's four steps at CPU
    sizes. Needs PyPI (JAX and the wheels are downloaded)."""
    jax_version = importlib.metadata.version("jax")
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    clean = {key: value for key, value in os.environ.items()
             if key not in ("PYTHONPATH", "VIRTUAL_ENV", "KERAS_BACKEND")}
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"jax=={jax_version}"], env=clean, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-2000:]
    wheels = tmp_path / "wheels"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    downloaded = subprocess.run(
        [python, *readme_wheel_command(version, wheels), "--quiet",
         "--disable-pip-version-check"], env=clean, capture_output=True, text=True,
        timeout=600)
    assert downloaded.returncode == 0, downloaded.stderr[-2000:]
    check = subprocess.run([python, "-c", "import keras"], env=clean, capture_output=True,
                           text=True)
    assert check.returncode != 0  # the machine itself has no Keras, only the wheels do

    out = tmp_path / "gpu"
    env = dict(clean, JAX_PLATFORMS="cpu", RESNET_LAB_DATA=str(tmp_path / "data"))
    result = subprocess.run([python, str(GPU_MEASURE), "--tiny", "--wheels", str(wheels),
                             "--out", str(out)],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((out / "gpu_measure.json").read_text())
    assert report["device"]["kind"] == "cpu" and report["versions"]["keras"]
    assert report["versions"]["tensorflow"] is None
    assert report["data"]["made"]["train_size"] == 64
    assert report["bench"]["results"]["backend"] == "jax"
    assert report["bench"]["results"]["complete"] is True
    assert report["bench"]["results"]["models"]["ours"]["training"]["images_per_second"] > 0
    assert report["pipeline"]["results"]["augmentation_on_device"]["images_per_second"] > 0
    assert report["pipeline"]["results"]["training_in_memory"]["images_per_second"] > 0
    summary = report["train"]["summary"]
    assert summary["epochs_finished"] == 2 and summary["backend"] == "jax"
    assert summary["step_ms"] > 0 and summary["epoch_seconds"] > 0
    assert 0 <= summary["final_val_accuracy"] <= 1
    assert len(report["train"]["history"]["val_accuracy"]) == 2
    assert report["seconds"] < report["budget_seconds"]
    assert all(report[step]["seconds"] <= report[step]["limit_seconds"]
               for step in ("data", "bench", "pipeline", "train"))
    assert "train: " in result.stdout  # the printed summary


TIME_TO_ACCURACY = pathlib.Path(__file__).parents[1] / "benchmarks" / "time_to_accuracy.py"


def time_to_accuracy(*args, env=None):
    env = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(TIME_TO_ACCURACY), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_time_to_accuracy_records_accuracy_against_seconds_and_plots_it(tmp_path):
    out = tmp_path / "run"
    result = time_to_accuracy(
        "run", "--label", "tiny", "--model", "resnet8", "--image-size", "16",
        "--batch-size", "8", "--train-size", "32", "--validation-size", "16",
        "--epochs", "2", "--every", "3", "--target", "0.01", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads((out / "time_to_accuracy.json").read_text())
    assert record["label"] == "tiny" and record["config"]["model"] == "resnet8"
    assert record["command"].startswith("python benchmarks/time_to_accuracy.py run ")
    assert record["versions"]["keras"] and record["device"]["kind"]
    steps = [point["step"] for point in record["points"]]
    assert steps == [3, 6, 8]  # every 3 steps of 2 x 4, and the last one
    assert [p["images"] for p in record["points"]] == [8 * s for s in steps]
    seconds = [point["seconds"] for point in record["points"]]
    assert seconds == sorted(seconds) and seconds[0] > 0
    assert all(0 <= p["val_accuracy"] <= 1 for p in record["points"])
    # Every accuracy is at least 1/16 on 16 images, so the 1% target is met at once.
    assert record["seconds_to_target"] == seconds[0]
    assert record["final_val_accuracy"] == record["points"][-1]["val_accuracy"]
    assert (out / "best.keras").exists() and (out / "history.csv").exists()  # a real run
    assert "85%" not in result.stdout and "1% after" in result.stdout

    again = time_to_accuracy("run", "--label", "tiny", "--out", str(out))
    assert again.returncode == 2 and "holds a run already" in again.stderr
    assert again.stderr.count("\n") <= 3

    picture = tmp_path / "tta.png"
    drawn = time_to_accuracy("plot", str(out / "time_to_accuracy.json"), "--out", str(picture))
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert picture.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["run", "--label", "x", "--target", "1.5"], "--target must be above 0 and at most 1"),
    (["run", "--label", "x", "--batch-size", "0"], "--batch-size"),
    (["run", "--label", "x", "--warmup-epochs", "-1"], "--warmup-epochs must be a number"),
    (["run"], "--label"),
    (["plot", "missing.json", "--out", "x.png"], "missing.json is not a result of 'run'"),
])
def test_time_to_accuracy_refuses_bad_arguments_in_one_line(args, message, tmp_path):
    result = time_to_accuracy(*args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.strip().count("\n") <= 2
