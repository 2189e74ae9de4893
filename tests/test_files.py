"""resnet_lab.files: a file is replaced whole or not at all."""

import json
import os

import pytest

from resnet_lab.files import write_atomically, write_json_atomically


def test_text_bytes_and_a_writer_function_land(tmp_path):
    text = write_atomically(tmp_path / "a.txt", "héllo\n")
    assert text == tmp_path / "a.txt" and text.read_text(encoding="utf8") == "héllo\n"
    write_atomically(tmp_path / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\xff"

    seen = []

    def writer(tmp):
        seen.append(tmp)
        with open(tmp, "w") as file:
            file.write("from the writer")

    write_atomically(tmp_path / "c.dat", writer)
    assert (tmp_path / "c.dat").read_text() == "from the writer"
    assert str(seen[0]).endswith(".dat")  # the target's suffix, for writers that need it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.dat"]


def test_the_suffix_can_be_chosen_and_an_existing_file_is_replaced(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    seen = []
    write_atomically(target, lambda tmp: (seen.append(tmp), open(tmp, "w").close()),
                     suffix=".partial.keras")
    assert str(seen[0]).endswith(".partial.keras")
    assert target.read_text() == ""
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_json_is_indented_and_ends_with_a_newline(tmp_path):
    path = write_json_atomically(tmp_path / "run.json", {"epochs": 3, "seed": [1, 2]})
    assert path.read_text().endswith("}\n") and '\n  "epochs": 3' in path.read_text()
    assert json.loads(path.read_text()) == {"epochs": 3, "seed": [1, 2]}


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomically(tmp_path / "text", "x")
        write_atomically(tmp_path / "written", lambda tmp: open(tmp, "w").close())
    finally:
        os.umask(old)
    for name in ("text", "written"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("epoch,loss\n0,1.0\n")

    def half_then_fail(tmp):
        with open(tmp, "w") as file:
            file.write("epoch,lo")
        raise KeyboardInterrupt  # a kill, as Python sees it

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "epoch,loss\n0,1.0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_a_failure_before_the_first_write_leaves_no_file_at_all(tmp_path):
    with pytest.raises(TypeError):
        write_atomically(tmp_path / "new.txt", 42)  # neither text, bytes nor a writer
    assert list(tmp_path.iterdir()) == []
