"""python -m resnet_lab bench: a tiny run works and its JSON is well-formed.

A benchmark, not a test of speed: nothing here asserts a timing.
"""

import json
import os
import pathlib
import subprocess
import sys

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


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="checks the JAX path from the TensorFlow run")
@pytest.mark.slow  # about 40 s on 2 cores: make test-jax runs the same script
@pytest.mark.timeout(1200)  # the script may take 900 s
def test_the_gpu_measurement_runs_end_to_end_under_jax_without_tensorflow(tmp_path):
    """benchmarks/gpu_measure.py --tiny: the GPU script's three steps at CPU sizes, where
    TensorFlow cannot be imported, as on a GPU machine with JAX only."""
    pytest.importorskip("jax")
    without_tensorflow = pathlib.Path(__file__).parent / "without_tensorflow"
    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu_measure.py"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(without_tensorflow), RESNET_LAB_DATA=str(tmp_path / "data"))
    out = tmp_path / "gpu"
    result = subprocess.run([sys.executable, str(script), "--tiny", "--out", str(out)],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((out / "gpu_measure.json").read_text())
    assert report["device"]["kind"] == "cpu" and report["versions"]["keras"]
    assert report["bench"]["results"]["backend"] == "jax"
    assert report["bench"]["results"]["models"]["ours"]["training"]["images_per_second"] > 0
    assert report["pipeline"]["results"]["augmentation_on_device"]["images_per_second"] > 0
    summary = report["train"]["summary"]
    assert summary["epochs_finished"] == 2 and summary["backend"] == "jax"
    assert summary["step_ms"] > 0 and summary["epoch_seconds"] > 0
    assert 0 <= summary["final_val_accuracy"] <= 1
    assert len(report["train"]["history"]["val_accuracy"]) == 2
    assert "tensorflow" not in (out / "train.log").read_text().lower()
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
