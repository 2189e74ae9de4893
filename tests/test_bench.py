"""python -m resnet_lab bench: a tiny run works and its JSON is well-formed.

A benchmark, not a test of speed: nothing here asserts a timing.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from resnet_lab import bench

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
    assert record["precision"] == "float32"  # the recipe's choice on a CPU
    assert record["xla"] is False
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
])
def test_bad_arguments_get_one_line_and_exit_code_2(args):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("python -m resnet_lab bench: error:")
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="checks the other backends from the TensorFlow run")
def test_pipeline_mode_says_it_is_not_available_without_tensorflow():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "resnet_lab", "bench", "--mode", "pipeline"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "needs the TensorFlow backend" in result.stderr
    assert "not available" in result.stderr.splitlines()[-1]
