"""Datasets: the offline default, the pipelines, and the real download path.

Imagenette and CIFAR-10 cannot be downloaded here, so the tests build small archives
in the same layout and serve them from 127.0.0.1: get_file, the checksum and the safe
extraction all run for real.
"""

import functools
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading

import numpy as np
import pytest

from resnet_lab import data, registry
from resnet_lab.data import DatasetUnavailableError, load_dataset, make_shapes


def test_shapes_are_deterministic_for_a_seed_and_differ_across_seeds():
    a, labels_a = make_shapes(16, 40, seed=3)
    b, labels_b = make_shapes(16, 40, seed=3)
    c, _ = make_shapes(16, 40, seed=4)
    assert a.shape == (16, 40, 40, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(labels_a, labels_b)
    assert not np.array_equal(a, c)


def test_shapes_cover_every_class_at_any_resolution():
    for size in (32, 97, 160):
        images, labels = make_shapes(400, size, seed=0)
        assert images.shape[1:] == (size, size, 3)
        assert set(labels) == set(range(len(data.SHAPES_CLASSES)))
        assert 20 < images.mean() < 235 and images.std() > 20  # not blank


def test_shapes_class_is_visible_in_the_pixels():
    """A linear classifier on raw pixels beats chance: there is real signal."""
    images, labels = make_shapes(600, 24, seed=1)
    x = images.reshape(len(images), -1).astype("float32") / 255
    x = np.hstack([x, np.ones((len(x), 1))])
    onehot = np.eye(8)[labels]
    weights, *_ = np.linalg.lstsq(x[:500], onehot[:500], rcond=1e-3)
    accuracy = np.mean((x[500:] @ weights).argmax(1) == labels[500:])
    assert accuracy > 0.2  # chance is 0.125


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    """Each test caches into its own folder."""
    monkeypatch.setenv(data.DATA_VARIABLE, str(tmp_path / "data"))
    return tmp_path / "data"


def test_load_dataset_gives_batches_of_uint8_images_and_one_hot_labels():
    splits = load_dataset("shapes", image_size=32, batch_size=8, train_size=40,
                          validation_size=20)
    train, validation, class_names = splits
    assert class_names == data.SHAPES_CLASSES
    images, labels = train[0]
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (8, 8) and labels.dtype == np.float32 and labels.sum() == 8.0
    assert len(train) == 5  # 40 / 8
    assert len(validation) == 3 and sum(len(x) for x, _ in validation) == 20  # keeps all
    generated, generated_labels = make_shapes(40, 32, seed=0)
    order = train.order()[:8]  # the generated images, unaugmented, in the shuffled order
    assert np.array_equal(images, generated[order])
    assert np.array_equal(labels.argmax(1), generated_labels[order])


def test_shuffling_depends_only_on_the_seed_and_the_epoch():
    def batches(seed=5, epoch=0, backwards=False):
        train = load_dataset("shapes", 32, 8, train_size=40, validation_size=8, seed=seed,
                             workers=2).train
        train.set_epoch(epoch)
        indices = range(len(train) - 1, -1, -1) if backwards else range(len(train))
        found = {i: train[i][1].argmax(1) for i in indices}
        return [found[i] for i in range(len(train))]

    first = batches()
    assert all(np.array_equal(a, b) for a, b in zip(first, batches(backwards=True), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, batches(epoch=1), strict=True))
    train = load_dataset("shapes", 32, 8, train_size=40, validation_size=8, seed=5).train
    train.on_epoch_end()  # as Keras calls it: the next epoch's order
    assert train.epoch == 1
    assert all(np.array_equal(train[i][1].argmax(1), labels)
               for i, labels in enumerate(batches(epoch=1)))
    with pytest.raises(IndexError):
        train[len(train)]


def test_a_batch_keeps_the_shuffled_order_and_pads_evenly_when_asked():
    splits = load_dataset("shapes", 16, 8, train_size=40, validation_size=13, seed=2)
    images, labels = splits.train[1]
    chosen = splits.train.order()[8:16]
    generated, generated_labels = make_shapes(40, 16, seed=2)
    assert np.array_equal(images, generated[chosen])  # not sorted by index
    assert np.array_equal(labels.argmax(1), generated_labels[chosen])
    validation = splits.validation
    validation.pad_to = 2  # as on two data-parallel devices
    images, labels, weights = validation[1]  # 5 images, padded to 6
    assert images.shape[0] == 6 and list(weights) == [1, 1, 1, 1, 1, 0]
    assert np.array_equal(images[5], images[0]) and labels.shape == (6, 8)
    assert list(validation[0][2]) == [1] * 8


def test_the_decoded_images_are_cached_once_and_memory_mapped(data_folder):
    (train, _), _, _ = data.load_arrays("shapes", 24, train_size=30, validation_size=10)
    files = sorted(p.name for p in (data_folder / "cache").iterdir())
    assert len(files) == 4 and not [f for f in files if f.startswith(".")]  # no partials
    assert isinstance(train, np.memmap) and train.shape == (30, 24, 24, 3)
    data.load_arrays("shapes", 24, train_size=30, validation_size=10)  # read, not made
    assert sorted(p.name for p in (data_folder / "cache").iterdir()) == files
    data.load_arrays("shapes", 32, train_size=30, validation_size=10)  # another size
    assert len(list((data_folder / "cache").iterdir())) == 8


def test_an_interrupted_cache_write_leaves_no_file(data_folder, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.np, "save", broken)
    with pytest.raises(KeyboardInterrupt):
        data.load_arrays("shapes", 16, train_size=10, validation_size=10)
    assert list((data_folder / "cache").iterdir()) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="mnist"), "Unknown dataset 'mnist'"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(image_size=-3), "image_size must be a positive integer"),
])
def test_bad_dataset_arguments_get_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(**kwargs)


# --- downloads, against a local server --------------------------------------------------

def jpeg_bytes(seed):
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def tar_gz(members):
    """A .tgz (bytes) from {name: bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def imagenette_members():
    members = {}
    for split, count in (("train", 3), ("val", 2)):
        for wnid in ("n01440764", "n03888605"):
            for i in range(count):
                members[f"imagenette2-160/{split}/{wnid}/{i}.JPEG"] = jpeg_bytes(i)
    return members


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """serve(name, archive_bytes, sha=None): publish an archive as dataset `name`."""
    site = tmp_path / "site"
    site.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(data.DATA_VARIABLE, str(tmp_path / "data"))

    def serve(name, archive, sha=None):
        spec = data.ARCHIVES[name]
        (site / spec.fname).write_bytes(archive)
        monkeypatch.setitem(data.ARCHIVES, name, registry.RemoteArchive(
            name=spec.name, origin=f"http://127.0.0.1:{server.server_port}/{spec.fname}",
            sha256=sha or hashlib.sha256(archive).hexdigest(), size=len(archive),
            folder=spec.folder, licence=spec.licence))
        return tmp_path / "data"

    yield serve
    server.shutdown()
    server.server_close()


def leftovers(root):
    return sorted(p.name for p in root.iterdir() if p.name != "downloads")


def test_imagenette_is_downloaded_verified_extracted_and_cached(served):
    root = served("imagenette", tar_gz(imagenette_members()))
    splits = load_dataset("imagenette", image_size=32, batch_size=2)
    assert splits.class_names == ["tench", "parachute"]
    assert sum(int(x.shape[0]) for x, _ in splits.validation) == 4
    assert len(splits.train) == 3
    images, labels = data.load_arrays("imagenette", 32)[1]  # decoded with Pillow
    assert images.shape == (4, 32, 32, 3) and list(labels) == [0, 0, 1, 1]
    assert leftovers(root) == ["cache", "imagenette"]
    assert (root / "imagenette" / ".complete").exists()
    # Cached: works again with the file gone from the server.
    (root.parent / "site" / "imagenette2-160.tgz").unlink()
    assert load_dataset("imagenette", image_size=32, batch_size=2).class_names[0] == "tench"


def test_a_download_with_the_wrong_checksum_is_rejected_and_deleted(served):
    root = served("imagenette", tar_gz(imagenette_members()), sha="0" * 64)
    with pytest.raises(DatasetUnavailableError, match="does not match its published SHA-256"):
        data.download("imagenette")
    assert not any((root / "downloads").iterdir())
    assert leftovers(root) == []


def test_a_truncated_archive_fails_cleanly_and_leaves_nothing_half_extracted(served):
    archive = tar_gz(imagenette_members())
    root = served("imagenette", archive[: len(archive) // 2])  # its checksum "matches"
    with pytest.raises(DatasetUnavailableError, match="probably incomplete"):
        data.download("imagenette")
    assert leftovers(root) == []


def test_an_archive_member_outside_the_folder_is_refused(served, tmp_path):
    members = imagenette_members()
    members["../../escaped.txt"] = b"gotcha"
    root = served("imagenette", tar_gz(members))
    with pytest.raises(DatasetUnavailableError, match="outside the dataset folder"):
        data.download("imagenette")
    assert leftovers(root) == []
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))


def test_offline_without_a_cached_copy_names_the_offline_default(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = data.ARCHIVES["cifar10"]
    monkeypatch.setitem(data.ARCHIVES, "cifar10", registry.RemoteArchive(
        name="cifar10", origin=f"http://127.0.0.1:{port}/{spec.fname}", sha256=spec.sha256,
        size=spec.size, folder=spec.folder, licence=spec.licence))
    monkeypatch.setenv(data.DATA_VARIABLE, str(tmp_path))
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("cifar10")
    assert "'shapes'" in str(info.value) and "--dataset shapes" in str(info.value)
    assert not list((tmp_path / "downloads").iterdir())


def test_cifar10_batches_are_parsed_into_images_and_labels(served):
    def batch(n, seed):
        rng = np.random.default_rng(seed)
        return pickle.dumps({b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                             b"labels": list(rng.integers(0, 10, n))})

    members = {f"cifar-10-batches-py/data_batch_{i}": batch(4, i) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(6, 9)
    served("cifar10", tar_gz(members))
    (x_train, y_train), (x_test, y_test) = data._load_cifar10()
    assert x_train.shape == (20, 32, 32, 3) and y_train.shape == (20,)
    assert x_test.shape == (6, 32, 32, 3)
    # Channels-first rows become channels-last images: pixel (0, 1) of channel 2.
    raw = pickle.loads(members["cifar-10-batches-py/test_batch"])[b"data"]
    assert x_test[0, 0, 1, 2] == raw[0, 2 * 1024 + 1]
    splits = load_dataset("cifar10", image_size=32, batch_size=4)
    assert splits.class_names[0] == "airplane" and len(splits.train) == 5
    resized = data.load_arrays("cifar10", 40)[1][0]  # resized with Pillow, cached apart
    assert resized.shape == (6, 40, 40, 3)


def test_pipeline_throughput_is_measured_in_images_per_second():
    splits = load_dataset("shapes", 32, 8, train_size=32, validation_size=8)
    rate = data.pipeline_throughput(splits.train, 6)  # wraps around the 4 batches
    assert rate > 0




def test_the_tensorflow_pipeline_gives_exactly_the_same_batches():
    pytest.importorskip("tensorflow")
    splits = load_dataset("shapes", 16, 8, train_size=40, validation_size=13, seed=4)
    for batches in splits:
        if not isinstance(batches, data.Batches):
            continue
        for epoch in (0, 3):
            batches.set_epoch(epoch)
            native = [(x.numpy(), y.numpy()) for x, y in data.as_tf_dataset(batches)]
            assert len(native) == len(batches)
            for (x, y), (a, b) in zip(native, (batches[i] for i in range(len(batches))),
                                      strict=True):
                assert np.array_equal(x, a) and np.array_equal(y, b)
