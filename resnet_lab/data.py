"""Datasets for training: an offline default, Imagenette and CIFAR-10, as tf.data pipelines.

``load_dataset(name, ...)`` returns ``Splits(train, validation, class_names)``: batched,
cached, prefetched ``tf.data`` pipelines of (float32 images in [0, 255], one-hot
labels). The model rescales its input itself (see ``resnet_lab.training``).

- ``shapes`` (the default) is generated here, needs no network and no disk, and is
  the same for the same seed: coloured shapes of 8 kinds on noisy, cluttered
  backgrounds, drawn at any resolution.
- ``imagenette`` (10 ImageNet classes, 160 px version) and ``cifar10`` are downloaded
  on first use with ``keras.utils.get_file``, checked against their published
  SHA-256, extracted safely (tarfile's ``data`` filter) into a temporary folder that
  is renamed into place only when complete, and cached under the data folder:
  ``$RESNET_LAB_DATA``, else the repository's ``data/``, else ``~/resnet_lab_data``.
"""

import dataclasses
import os
import pathlib
import pickle
import shutil
import tarfile
import tempfile
from typing import NamedTuple

import keras
import numpy as np

DATA_VARIABLE = "RESNET_LAB_DATA"
OFFLINE_DEFAULT = "shapes"


class DatasetUnavailableError(OSError):
    """A dataset could not be downloaded, verified or extracted."""


@dataclasses.dataclass(frozen=True)
class RemoteArchive:
    name: str
    origin: str
    sha256: str
    size: int  # bytes, as published
    folder: str  # the top folder inside the archive
    licence: str

    @property
    def fname(self):
        return self.origin.rsplit("/", 1)[-1]


ARCHIVES = {
    "imagenette": RemoteArchive(
        name="imagenette",
        origin="https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz",
        sha256="64d0c4859f35a461889e0147755a999a48b49bf38a7e0f9bd27003f10db02fe5",
        size=99_003_388,
        folder="imagenette2-160",
        licence="Apache-2.0 (fast.ai); images from ImageNet, for non-commercial research",
    ),
    "cifar10": RemoteArchive(
        name="cifar10",
        origin="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        size=170_498_071,
        folder="cifar-10-batches-py",
        licence="no licence stated by the authors; cite Krizhevsky (2009)",
    ),
}

IMAGENETTE_CLASSES = {
    "n01440764": "tench", "n02102040": "English springer", "n03000684": "chain saw",
    "n02979186": "cassette player", "n03028079": "church", "n03394916": "French horn",
    "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball",
    "n03888605": "parachute",
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
SHAPES_CLASSES = ["circle", "ring", "square", "triangle", "cross", "star", "bar", "crescent"]
DATASETS = (OFFLINE_DEFAULT, *ARCHIVES)


class Splits(NamedTuple):
    train: object  # tf.data.Dataset of (images, one-hot labels) batches
    validation: object
    class_names: list


def data_dir():
    """Where datasets are cached: $RESNET_LAB_DATA, the repository's data/, or ~."""
    if os.environ.get(DATA_VARIABLE):
        return pathlib.Path(os.environ[DATA_VARIABLE]).expanduser()
    repo_data = pathlib.Path(__file__).resolve().parents[1] / "data"
    if (repo_data / "README.md").exists():
        return repo_data
    return pathlib.Path.home() / "resnet_lab_data"


# --- the offline default -------------------------------------------------------------

def make_shapes(n, image_size=64, seed=0):
    """n images (uint8, image_size x image_size x 3) of coloured shapes, and their labels.

    Each image has one shape of one of 8 kinds (SHAPES_CLASSES), with a random colour,
    size, position and rotation, over a random background with noise and small
    coloured clutter. The same seed gives the same images, at any size.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES_CLASSES), size=n)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    for start in range(0, n, 256):  # in chunks, to bound memory at large sizes
        stop = min(n, start + 256)
        images[start:stop] = _draw_shapes(labels[start:stop], image_size, rng)
    return images, labels.astype("int32")


def _draw_shapes(labels, size, rng):
    n = len(labels)
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(grid, grid, indexing="ij")

    background = rng.uniform(0.0, 0.5, (n, 1, 1, 3))
    images = background + rng.normal(0, 0.08, (n, size, size, 3))
    for _ in range(6):  # clutter: small blobs of random colours
        cy, cx = rng.uniform(-1, 1, (2, n, 1, 1))
        radius = rng.uniform(0.04, 0.12, (n, 1, 1))
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2
        images = np.where(blob[..., None], rng.uniform(0, 1, (n, 1, 1, 3)), images)

    scale = rng.uniform(0.35, 0.6, (n, 1, 1))
    cy, cx = rng.uniform(-0.3, 0.3, (2, n, 1, 1))
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    dy, dx = (yy - cy) / scale, (xx - cx) / scale
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    rho, phi = np.hypot(u, v), np.arctan2(v, u)
    masks = np.stack([
        rho < 1,  # circle
        (rho > 0.55) & (rho < 1),  # ring
        np.maximum(abs(u), abs(v)) < 0.8,  # square
        (v > -0.5) & (v < 1 - np.sqrt(3) * abs(u)),  # triangle
        ((abs(u) < 0.25) & (abs(v) < 1)) | ((abs(v) < 0.25) & (abs(u) < 1)),  # cross
        rho < 0.55 + 0.45 * np.cos(5 * phi),  # star
        (abs(u) < 1) & (abs(v) < 0.28),  # bar
        (rho < 1) & ((u - 0.45) ** 2 + v ** 2 > 0.75 ** 2),  # crescent
    ], axis=1)
    mask = masks[np.arange(n), labels]
    colour = rng.uniform(0.45, 1.0, (n, 3))
    colour[np.arange(n), rng.integers(0, 3, n)] *= 0.3  # a saturated colour
    colour = colour[:, None, None, :]
    shaded = colour * (0.85 + 0.15 * rng.normal(0, 1, (n, size, size, 1)).clip(-1, 1))
    images = np.where(mask[..., None], shaded, images)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


# --- downloads -----------------------------------------------------------------------

def download(name, root=None):
    """Download, verify and extract a remote dataset once; return its extracted folder."""
    spec = ARCHIVES[name]
    root = pathlib.Path(root or data_dir())
    target = root / spec.name
    if (target / ".complete").exists():
        return target / spec.folder
    root.mkdir(parents=True, exist_ok=True)
    archive = _fetch(spec, root)
    partial = pathlib.Path(tempfile.mkdtemp(prefix=f".{spec.name}-partial-", dir=root))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
        if not (partial / spec.folder).is_dir():
            raise DatasetUnavailableError(
                f"{archive.name} has no folder {spec.folder!r}: not the {name} archive.")
        (partial / ".complete").write_text(spec.sha256 + "\n")
        if target.exists():  # an earlier, incomplete copy
            shutil.rmtree(target)
        partial.rename(target)
        archive.unlink()  # the extracted copy is the cache; no need to keep both
    except tarfile.FilterError as error:
        raise DatasetUnavailableError(
            f"Refusing to extract {archive}: it has a member that would be written "
            f"outside the dataset folder ({error}). Delete the file and download it again."
        ) from None
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, DatasetUnavailableError):
            raise
        raise DatasetUnavailableError(
            f"Could not extract {archive} ({error}); it is probably incomplete. Delete it "
            f"and run again to download it afresh."
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target / spec.folder


def _fetch(spec, root):
    """The verified archive in root/downloads, downloading it if needed."""
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    path = downloads / spec.fname
    try:
        return pathlib.Path(keras.utils.get_file(
            spec.fname, spec.origin, file_hash=spec.sha256, hash_algorithm="sha256",
            cache_dir=str(root), cache_subdir="downloads"))
    except ValueError:  # downloaded, but the checksum does not match
        path.unlink(missing_ok=True)
        raise DatasetUnavailableError(
            f"The download of {spec.name} from {spec.origin} does not match its published "
            f"SHA-256 ({spec.sha256[:12]}...), so it was deleted. Run again; if it keeps "
            f"failing, the file on the server has changed."
        ) from None
    except Exception as error:  # get_file wraps network errors in a bare Exception
        path.unlink(missing_ok=True)
        raise DatasetUnavailableError(
            f"Could not download {spec.name} ({spec.size / 1e6:.0f} MB) from {spec.origin}: "
            f"{error}.\nWithout internet, use the offline default dataset "
            f"{OFFLINE_DEFAULT!r} (--dataset {OFFLINE_DEFAULT}), or fetch {spec.fname} "
            f"elsewhere and put it in {downloads}."
        ) from None


def _load_cifar10(root=None):
    folder = download("cifar10", root)

    def batch(name):
        with open(folder / name, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        images = entry[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, np.asarray(entry[b"labels"], "int32")

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return train, batch("test_batch")


# --- pipelines -----------------------------------------------------------------------

def augmentation(seed=0):
    """Random flips and shifts (up to 10% of the size, reflected at the borders)."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 1),
    ], name="augmentation")


def load_dataset(name=OFFLINE_DEFAULT, image_size=64, batch_size=32, *, train_size=4000,
                 validation_size=1000, augment=True, seed=0, deterministic=True, root=None):
    """Train and validation pipelines for a dataset, with its class names.

    Arguments:
        name: "shapes" (offline, generated), "imagenette" or "cifar10".
        image_size: side of the square images the model gets.
        batch_size: images per batch (the train pipeline drops a last partial batch).
        train_size, validation_size: number of images, for "shapes" only.
        augment: random flips and shifts on the training images.
        seed: seeds the generated data, the shuffling and the augmentation. tf.data
            combines it with TensorFlow's global seed: for a reproducible run, call
            ``keras.utils.set_random_seed(seed)`` first (``python -m resnet_lab train``
            does).
        deterministic: draw the augmentation's random numbers in order. Random layers
            in a parallel map race for their seed state, which makes runs differ; the
            sequential map costs pipeline speed (see ``pipeline_throughput``).
        root: the data folder (default: ``data_dir()``).
    """
    import tensorflow as tf

    _check_arguments(name, image_size, batch_size, train_size, validation_size)
    if name == "shapes":
        train = make_shapes(train_size, image_size, seed)
        validation = make_shapes(validation_size, image_size, seed + 1_000_003)
        class_names = list(SHAPES_CLASSES)
        train, validation = (tf.data.Dataset.from_tensor_slices(split)
                             for split in (train, validation))
    elif name == "cifar10":
        train, validation = (tf.data.Dataset.from_tensor_slices(split)
                             for split in _load_cifar10(root))
        class_names = list(CIFAR10_CLASSES)
    else:
        folder = download("imagenette", root)
        train, validation = (_image_folder(folder / split, image_size)
                             for split in ("train", "val"))
        wnids = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
        class_names = [IMAGENETTE_CLASSES.get(w, w) for w in wnids]

    def prepare(images, labels):
        images = tf.image.resize(tf.cast(images, "float32"), (image_size, image_size))
        return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), "uint8"), labels

    def finish(dataset, training):
        dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=training)
        one_hot = len(class_names)
        augmenter = augmentation(seed) if (training and augment) else None

        def to_model_input(images, labels):
            images = tf.cast(images, "float32")
            if augmenter is not None:
                images = augmenter(images, training=True)
            return images, tf.one_hot(labels, one_hot)

        parallel = None if (deterministic and augmenter is not None) else tf.data.AUTOTUNE
        return dataset.map(to_model_input, num_parallel_calls=parallel).prefetch(
            tf.data.AUTOTUNE)

    return Splits(finish(train, True), finish(validation, False), class_names)


def _image_folder(folder, image_size):
    return keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", batch_size=None,
        image_size=(image_size, image_size), crop_to_aspect_ratio=True, shuffle=False)


def _check_arguments(name, image_size, batch_size, train_size, validation_size):
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    for label, value, low in [("image_size", image_size, 1), ("batch_size", batch_size, 1),
                              ("train_size", train_size, 1),
                              ("validation_size", validation_size, 1)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{label} must be a positive integer; got {value!r}.")


def pipeline_throughput(dataset, batches=50):
    """Images per second the pipeline delivers on its own (after one warm-up pass)."""
    import time

    for _ in dataset.take(batches):
        pass  # fills the cache and warms up the threads
    count, start = 0, time.perf_counter()
    for images, _ in dataset.take(batches):
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)
