"""Profiles: from the environment, from a notebook parameter, and where runs are kept."""

import os
import pathlib
import subprocess
import sys

import nbformat
import pytest

from resnet_lab import env
from resnet_lab.commands import notebooks


@pytest.mark.parametrize("value, profile", [("smoke", "smoke"), (" CPU ", "cpu"),
                                            ("gpu", "gpu")])
def test_the_environment_variable_names_the_profile(value, profile, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_PROFILE", value)
    assert env.current_profile() == profile


@pytest.mark.parametrize("devices, profile", [
    ([], "cpu"),
    ([env.Device("gpu", "NVIDIA H100", 9)], "gpu"),
    ([env.Device("tpu", "TPU", None)], "gpu"),  # the accelerator profile, TPUs included
])
def test_without_the_variable_the_hardware_chooses(devices, profile, monkeypatch):
    monkeypatch.delenv("RESNET_LAB_PROFILE", raising=False)
    monkeypatch.setattr(env, "accelerators", lambda: devices)
    assert env.current_profile() == profile
    assert env.accelerator() == (devices[0] if devices else env.Device("cpu", "CPU", None))


def test_a_tpu_named_by_the_environment_is_the_accelerator_under_tensorflow(monkeypatch):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TPU address is read under TensorFlow")
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert env.accelerators() == [env.Device("tpu", "TPU", None)]
    monkeypatch.delenv("RESNET_LAB_PROFILE", raising=False)
    assert env.current_profile() == "gpu"


def test_make_chooses_the_tensorflow_package_without_importing_anything(monkeypatch):
    result = subprocess.run([sys.executable, "-S", "-m", "resnet_lab.env", "tensorflow-extra"],
                            capture_output=True, text=True, timeout=60,
                            cwd=pathlib.Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == env.tensorflow_extra()
    monkeypatch.setattr(env.platform, "system", lambda: "Linux")
    monkeypatch.setattr(env, "nvidia_gpu_present", lambda: False)
    assert env.tensorflow_extra() == "cpu"
    monkeypatch.setattr(env, "nvidia_gpu_present", lambda: True)
    assert env.tensorflow_extra() == "tf"


def test_an_unknown_profile_in_the_environment_is_one_sentence(monkeypatch):
    monkeypatch.setenv("RESNET_LAB_PROFILE", "fast")
    with pytest.raises(ValueError) as info:
        env.current_profile()
    assert str(info.value) == ("RESNET_LAB_PROFILE='fast' is not a profile; use one of smoke, "
                               "cpu, gpu (or leave it unset to choose by the hardware).")


def test_by_profile_picks_the_value_and_names_the_choices():
    assert env.by_profile("cpu", smoke=8, cpu=30, gpu=50) == 30
    with pytest.raises(ValueError, match=r"^PROFILE = 'fast' is not a profile; use one of "
                                         r"smoke, cpu, gpu\.$"):
        env.by_profile("fast", smoke=8, cpu=30, gpu=50)
    with pytest.raises(TypeError, match="one value for each of smoke, cpu, gpu; got smoke, cpu"):
        env.by_profile("cpu", smoke=8, cpu=30)
    assert env.check_profile("gpu") == "gpu"


def smoke_run_folder(script="", shared=None):
    """The smoke run folder a new Python process got, after running ``script`` in it
    (with RESNET_LAB_SMOKE_RUNS set to ``shared``, if given)."""
    code = ("from resnet_lab.env import run_folder; import pathlib; "
            "folder = pathlib.Path(run_folder('05_smoke', 'smoke')); "
            "(folder / 'final.keras').write_text('x'); print(folder, flush=True); " + script)
    environment = {key: value for key, value in os.environ.items()
                   if key != env.SMOKE_RUNS_ENV}
    if shared is not None:
        environment[env.SMOKE_RUNS_ENV] = str(shared)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**environment, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return pathlib.Path(result.stdout.strip())


def test_runs_are_kept_under_runs_except_smoke_runs_which_leave_nothing_behind():
    assert env.run_folder("05_cpu", "cpu") == "runs/05_cpu"
    folder = smoke_run_folder()
    assert folder.name.startswith("05_smoke.pid") and not folder.exists()


def test_smoke_runs_shared_for_grading_stay_for_the_next_kernel(tmp_path):
    folder = smoke_run_folder(shared=tmp_path / "smoke-runs")
    assert folder == tmp_path / "smoke-runs" / "05_smoke"
    assert (folder / "final.keras").exists()  # the next student's kernel resumes it
    assert smoke_run_folder(shared=tmp_path / "smoke-runs") == folder


@pytest.mark.skipif(os.name == "nt", reason="no file locks there: every kernel shares")
def test_a_kernel_that_finds_the_shared_smoke_run_in_use_trains_its_own(tmp_path):
    """While one process trains a shared smoke run, another gets a temporary folder of its
    own instead of waiting; once the run is finished (``finished_with``, which
    training.fit calls), the next one gets the shared folder and resumes it."""
    code = ("from resnet_lab.env import finished_with, run_folder; import sys; "
            "folder = run_folder('05_smoke', 'smoke'); print(folder, flush=True); "
            "sys.stdin.readline(); finished_with(folder); print('finished', flush=True); "
            "sys.stdin.read()")
    environment = {**os.environ, env.SMOKE_RUNS_ENV: str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    holder = subprocess.Popen([sys.executable, "-c", code], env=environment, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == str(tmp_path / "05_smoke")
        meanwhile = smoke_run_folder(shared=tmp_path)
        assert meanwhile.name.startswith("05_smoke.pid") and not meanwhile.exists()
        holder.stdin.write("\n")  # its run is finished
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "finished"
        assert smoke_run_folder(shared=tmp_path) == tmp_path / "05_smoke"
        holder.stdin.close()
        assert holder.wait(timeout=120) == 0
    finally:
        holder.kill()
        holder.wait()


def test_a_smoke_run_folder_left_by_a_killed_kernel_goes_with_the_next_smoke_run(monkeypatch):
    monkeypatch.delenv(env.SMOKE_RUNS_ENV, raising=False)
    killed = smoke_run_folder("import os; os._exit(0)")  # no clean-up at exit, as SIGKILL
    assert (killed / "final.keras").exists()
    assert env.run_folder("05_smoke", "smoke") != str(killed)
    assert not killed.exists()


def test_a_lesson_given_an_unknown_profile_by_papermill_says_so_in_one_line(monkeypatch):
    """papermill's `-p PROFILE fast` adds a cell after the parameters cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    nb = nbformat.read(notebooks.notebook_paths()[0], as_version=4)
    index = next(i for i, cell in enumerate(nb.cells)
                 if "parameters" in cell.metadata.get("tags", []))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell('PROFILE = "fast"'))
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(notebooks.NOTEBOOKS)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "ValueError"
    assert info.value.evalue == "PROFILE = 'fast' is not a profile; use one of smoke, cpu, gpu."
