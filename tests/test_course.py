"""python -m resnet_lab course: its command line (running the notebooks is make course's)."""

import pytest

from resnet_lab.commands import course


@pytest.mark.parametrize("argv, prog, message", [
    ([], "course", "the following arguments are required: command"),
    (["publish"], "course", "argument command: invalid choice: 'publish'"),
    (["build", "--profile", "fast"], "course build", "argument --profile: invalid choice: 'fast'"),
    (["sync", "extra"], "course", "unrecognized arguments: extra"),
], ids=["no command", "unknown command", "unknown profile", "extra argument"])
def test_bad_arguments_get_one_line_and_exit_status_2(argv, prog, message, capsys):
    with pytest.raises(SystemExit) as info:
        course.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m resnet_lab {prog}: error: {message}"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line, no usage block
