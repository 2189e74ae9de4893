"""Writing files so that a kill never leaves half of one: ``write_atomically``.

Every file the course writes for later (a run's settings and history, checkpoints,
cached datasets, generated notebooks, the HTML course) goes through here: the content
is written to a temporary file in the same folder, which is then renamed over the
target. A rename within a folder is atomic, so the target holds either the old content
or the new, never a mix; a kill during the write leaves at most a hidden temporary file.
"""

import json
import os
import pathlib
import tempfile


def write_atomically(path, content, *, suffix=None):
    """Write ``content`` to ``path`` through a temporary file and a rename.

    ``content`` is text (``str``), ``bytes``, or a function that writes the file it is
    given (``lambda tmp: model.save(tmp)``, ``lambda tmp: numpy.save(tmp, array)``).
    ``suffix``: the temporary file's ending, for writers that choose the format by it
    (``model.save`` needs ".keras"); by default the target's own suffix. The file gets
    the permissions of any file the user creates (the umask), not mkstemp's 0600.
    Returns the path.
    """
    path = pathlib.Path(path)
    suffix = path.suffix if suffix is None else suffix
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    try:
        if callable(content):
            os.close(handle)
            content(tmp)
        else:
            data = content.encode("utf8") if isinstance(content, str) else content
            with os.fdopen(handle, "wb") as file:
                file.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path, value):
    """``value`` as indented JSON, written atomically."""
    return write_atomically(path, json.dumps(value, indent=2) + "\n")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
