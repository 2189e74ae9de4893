"""Datasets for training: an offline default, Imagenette and CIFAR-10, as uint8 batches.

``load_dataset(config)`` (or ``load_dataset(name, image_size, batch_size, ...)``) returns
``Splits(train, validation, class_names)``: two ``keras.utils.PyDataset`` objects that
give batches of (uint8 images in [0, 255], one-hot float32 labels) to ``model.fit`` on
every Keras backend, with or without TensorFlow installed. The host only shuffles and
batches; the random augmentation runs in the model, on the accelerator
(``resnet_lab.augment``), and the model rescales its input itself.

- ``shapes`` (the default) is generated here, needs no network, and is the same for
  the same seed: coloured shapes of 8 kinds on noisy, cluttered backgrounds, drawn at
  any resolution.
- ``imagenette`` (10 ImageNet classes, 160 px version) and ``cifar10`` are downloaded
  on first use with ``keras.utils.get_file``, checked against their published
  SHA-256, extracted safely (tarfile's ``data`` filter) into a temporary folder that
  is renamed into place only when complete, and kept under the data folder:
  ``$RESNET_LAB_DATA``, else the repository's ``data/``, else ``~/resnet_lab_data``.

Decoded images are cached once per dataset and image size as uint8 ``.npy`` files in
``DATA/cache/`` (Imagenette decoded with Pillow, CIFAR-10 and the shapes from their
arrays), written atomically and memory-mapped when read. A file's name holds what it
was made from (the archive's checksum, or the generator's seed and size), so a new
source or another size never reads a stale cache.

Shuffling is a pure function of (seed, epoch): batch i of epoch e is the same whichever
thread builds it and whenever, also after a resume (``training.fit`` tells the batches
which epoch runs).
"""

import os
import pathlib
import pickle
import shutil
import tarfile
import tempfile
from typing import NamedTuple

import keras
import numpy as np

from resnet_lab import registry
from resnet_lab.files import write_atomically

DATA_VARIABLE = "RESNET_LAB_DATA"
DATASETS = tuple(registry.DATASETS)
ARCHIVES = {name: spec.archive for name, spec in registry.DATASETS.items() if spec.archive}
OFFLINE_DEFAULT = registry.OFFLINE_DEFAULT


class DatasetUnavailableError(OSError):
    """A dataset could not be downloaded, verified or extracted."""


IMAGENETTE_CLASSES = {
    "n01440764": "tench", "n02102040": "English springer", "n03000684": "chain saw",
    "n02979186": "cassette player", "n03028079": "church", "n03394916": "French horn",
    "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball",
    "n03888605": "parachute",
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
SHAPES_CLASSES = ["circle", "ring", "square", "triangle", "cross", "star", "bar", "crescent"]
# Five other kinds, none of them in SHAPES_CLASSES: a second task for transfer learning.
OTHER_SHAPES_CLASSES = ["arrow", "heart", "hexagon", "semicircle", "chevron"]
SHAPES_VERSION = 1  # part of the cache key: bump it when make_shapes draws differently


class Splits(NamedTuple):
    train: object  # Batches of (uint8 images, one-hot labels), shuffled per epoch
    validation: object  # Batches in a fixed order, the last one possibly partial
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

def make_shapes(n, image_size=64, seed=0, classes=SHAPES_CLASSES):
    """n images (uint8, image_size x image_size x 3) of coloured shapes, and their labels.

    Each image has one shape of one of the kinds in ``classes`` (by default the 8 of
    SHAPES_CLASSES; OTHER_SHAPES_CLASSES are 5 more, for a second task), with a random
    colour, size, position and rotation, over a random background with noise and small
    coloured clutter. Label i is ``classes[i]``. The same seed gives the same images, at
    any size.
    """
    unknown = [name for name in classes if name not in SHAPE_MASKS]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be different names among {', '.join(SHAPE_MASKS)}; "
                         f"got {list(classes)!r}.")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(classes), size=n)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    for start in range(0, n, 256):  # in chunks, to bound memory at large sizes
        stop = min(n, start + 256)
        images[start:stop] = _draw_shapes(labels[start:stop], image_size, rng, classes)
    return images, labels.astype("int32")


# Each kind as a mask over the shape's own coordinates: u, v (rotated and scaled, the
# shape fills about the unit disc), and their polar form rho, phi.
SHAPE_MASKS = {
    "circle": lambda u, v, rho, phi: rho < 1,
    "ring": lambda u, v, rho, phi: (rho > 0.55) & (rho < 1),
    "square": lambda u, v, rho, phi: np.maximum(abs(u), abs(v)) < 0.8,
    "triangle": lambda u, v, rho, phi: (v > -0.5) & (v < 1 - np.sqrt(3) * abs(u)),
    "cross": lambda u, v, rho, phi: (((abs(u) < 0.25) & (abs(v) < 1))
                                     | ((abs(v) < 0.25) & (abs(u) < 1))),
    "star": lambda u, v, rho, phi: rho < 0.55 + 0.45 * np.cos(5 * phi),
    "bar": lambda u, v, rho, phi: (abs(u) < 1) & (abs(v) < 0.28),
    "crescent": lambda u, v, rho, phi: (rho < 1) & ((u - 0.45) ** 2 + v ** 2 > 0.75 ** 2),
    # OTHER_SHAPES_CLASSES
    "arrow": lambda u, v, rho, phi: (((abs(v) < 0.2) & (u > -1) & (u < 0.15))
                                     | ((u >= 0.15) & (abs(v) < 0.8 * (1 - u)))),
    "heart": lambda u, v, rho, phi: ((1.2 * u) ** 2 + (1.2 * v + 0.2) ** 2 - 1) ** 3
                                     < (1.2 * u) ** 2 * (1.2 * v + 0.2) ** 3,
    "hexagon": lambda u, v, rho, phi: np.maximum(abs(v), 0.866 * abs(u) + 0.5 * abs(v)) < 0.85,
    "semicircle": lambda u, v, rho, phi: (rho < 1) & (v > -0.15),
    "chevron": lambda u, v, rho, phi: (abs(v + 0.3 - 1.1 * abs(u)) < 0.3) & (abs(u) < 0.9),
}


def _draw_shapes(labels, size, rng, classes):
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
    masks = np.stack([SHAPE_MASKS[name](u, v, rho, phi) for name in classes], axis=1)
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


VALIDATION_SEED = 1_000_003  # the shapes' validation split draws with seed + this


def _shapes_stems(image_size, train_size, validation_size, seed):
    """The cache's file stems for the shapes' training and validation splits."""
    return tuple(f"shapes-{label}-{n}-seed{split_seed}-v{SHAPES_VERSION}-{image_size}px"
                 for label, n, split_seed in (("train", train_size, seed),
                                              ("validation", validation_size,
                                               seed + VALIDATION_SEED)))


def shapes_cached(image_size, *, train_size=4000, validation_size=1000, seed=0, root=None):
    """Whether ``load_arrays("shapes", ...)`` with these arguments reads both splits from
    the cache (instead of drawing them first)."""
    folder = pathlib.Path(root or data_dir()) / "cache"
    return all((folder / f"{stem}.{part}.npy").exists()
               for stem in _shapes_stems(image_size, train_size, validation_size, seed)
               for part in ("images", "labels"))


# --- decoded images, cached ----------------------------------------------------------

def _cached(root, stem, make):
    """(images, labels) from root/cache/stem.*.npy, made by ``make()`` the first time.

    Both files are written atomically (``files.write_atomically``), labels first: a
    kill never leaves a half-written file under the final name. Images are
    memory-mapped, so a large dataset costs page cache, not process memory.
    """
    folder = pathlib.Path(root) / "cache"
    images_path, labels_path = folder / f"{stem}.images.npy", folder / f"{stem}.labels.npy"
    if not (images_path.exists() and labels_path.exists()):
        images, labels = make()
        folder.mkdir(parents=True, exist_ok=True)
        for path, array in ((labels_path, labels), (images_path, images)):
            write_atomically(path, lambda tmp, array=array: np.save(
                tmp, np.ascontiguousarray(array)))
    return np.load(images_path, mmap_mode="r"), np.load(labels_path)


def _resize_all(images, image_size):
    """uint8 images resized to image_size x image_size with Pillow (bilinear)."""
    if images.shape[1:3] == (image_size, image_size):
        return images
    from PIL import Image

    out = np.empty((len(images), image_size, image_size, 3), np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize(
            (image_size, image_size), Image.Resampling.BILINEAR))
    return out


def _decode_folder(folder, image_size):
    """Every image under folder/<class>/ as a square uint8 array, and its class index.

    The centre square of each image (the largest that fits) is resized to image_size
    with Pillow, for the training images too: the random resized crop then draws its
    crops from that square, so the far sides of wide images are never seen.
    """
    from PIL import Image, ImageOps

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(path, label) for label, name in enumerate(classes)
             for path in sorted((folder / name).iterdir()) if path.is_file()]
    images = np.empty((len(files), image_size, image_size, 3), np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as image:
                images[i] = np.asarray(ImageOps.fit(
                    image.convert("RGB"), (image_size, image_size),
                    Image.Resampling.BILINEAR))
        except OSError as error:
            raise DatasetUnavailableError(
                f"Could not decode {path} ({error}). Delete the folder {folder.parent} and "
                f"run again to download the dataset afresh.") from None
    return images, np.array([label for _, label in files], "int32"), classes


def load_arrays(name=OFFLINE_DEFAULT, image_size=64, *, train_size=4000,
                validation_size=1000, seed=0, root=None):
    """((train images, labels), (validation images, labels), class names), all uint8.

    The images are memory-mapped from the cache in ``DATA/cache`` (made on first use).
    """
    _check_arguments(name, image_size, 1, train_size, validation_size)
    root = pathlib.Path(root or data_dir())
    if name == "shapes":
        stems = _shapes_stems(image_size, train_size, validation_size, seed)
        return (_cached(root, stems[0], lambda: make_shapes(train_size, image_size, seed)),
                _cached(root, stems[1], lambda: make_shapes(validation_size, image_size,
                                                            seed + VALIDATION_SEED)),
                list(SHAPES_CLASSES))
    key = ARCHIVES[name].sha256[:16]
    if name == "cifar10":
        loaded = {}

        def make(index):
            if not loaded:
                loaded["splits"] = _load_cifar10(root)
            images, labels = loaded["splits"][index]
            return _resize_all(images, image_size), labels

        return (_cached(root, f"cifar10-train-{key}-{image_size}px", lambda: make(0)),
                _cached(root, f"cifar10-validation-{key}-{image_size}px", lambda: make(1)),
                list(CIFAR10_CLASSES))
    folder = download("imagenette", root)
    wnids = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())

    def decoded(split):
        images, labels, classes = _decode_folder(folder / split, image_size)
        if classes != wnids:
            raise DatasetUnavailableError(
                f"{folder / split} has other classes than {folder / 'train'}; delete "
                f"{folder.parent} and run again to download it afresh.")
        return images, labels

    return (_cached(root, f"imagenette-train-{key}-{image_size}px", lambda: decoded("train")),
            _cached(root, f"imagenette-validation-{key}-{image_size}px",
                    lambda: decoded("val")),
            [IMAGENETTE_CLASSES.get(w, w) for w in wnids])


# --- batches -------------------------------------------------------------------------

class Batches(keras.utils.PyDataset):
    """Batches of (uint8 images, one-hot float32 labels) from in-memory or mapped arrays.

    With ``shuffle=True`` each epoch visits the images in the order of
    ``numpy.random.default_rng((seed, epoch)).permutation`` and drops the last partial
    batch; otherwise the order is fixed and the last batch may be smaller. Batch i of
    an epoch depends on nothing else, so any number of worker threads, and a resumed
    run, see the same batches. ``set_epoch`` chooses the epoch (``training.fit`` calls
    it at the start of each); ``on_epoch_end`` moves to the next one.

    ``pad_to``: when above 1, a last partial batch is filled up to a multiple of it with
    copies of its first images, and every batch carries sample weights (0 for the
    copies), so that data-parallel devices each get an equal share and metrics count
    every image once (``training.fit`` sets it under JAX on several devices).
    """

    def __init__(self, images, labels, num_classes, batch_size, *, shuffle, seed=0,
                 workers=1):
        super().__init__(workers=workers, use_multiprocessing=False,
                         max_queue_size=max(4, 2 * workers))
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels.")
        self.images, self.labels = images, np.asarray(labels)
        self.num_classes, self.batch_size = num_classes, batch_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.pad_to = 1
        self._order = (None, None)

    def __len__(self):
        count = len(self.images)
        return count // self.batch_size if self.shuffle else -(-count // self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def on_epoch_end(self):
        self.epoch += 1

    def order(self):
        """The image indices in this epoch's order."""
        wanted = self.epoch
        epoch, order = self._order
        if epoch != wanted:
            if self.shuffle:
                order = np.random.default_rng((self.seed, wanted)).permutation(len(self.images))
            else:
                order = np.arange(len(self.images))
            self._order = (wanted, order)
        return order

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        chosen = self.order()[index * self.batch_size:(index + 1) * self.batch_size]
        # Read a memory-mapped file in index order, but keep the shuffled order in the
        # batch: devices that split a batch get a mix of classes, not a sorted run.
        ascending = np.argsort(chosen, kind="stable")
        images = np.empty((len(chosen), *self.images.shape[1:]), self.images.dtype)
        images[ascending] = self.images[chosen[ascending]]
        one_hot = np.zeros((len(chosen), self.num_classes), np.float32)
        one_hot[np.arange(len(chosen)), self.labels[chosen]] = 1
        if self.pad_to <= 1:
            return images, one_hot
        weights = np.ones(len(chosen), np.float32)
        missing = -len(chosen) % self.pad_to
        if missing:
            copies = np.arange(missing) % len(chosen)
            images = np.concatenate([images, images[copies]])
            one_hot = np.concatenate([one_hot, one_hot[copies]])
            weights = np.concatenate([weights, np.zeros(missing, np.float32)])
        return images, one_hot, weights


def as_tf_dataset(batches):
    """The same batches as a native ``tf.data`` pipeline (TensorFlow only, one device).

    Keras feeds a PyDataset to TensorFlow through ``tf.data.Dataset.from_generator``,
    which calls Python for every batch; on a 2-core machine that made a ResNet-50
    training step about 15% slower. This pipeline gathers the batches from the arrays in
    TensorFlow itself, and asks Python once per epoch for the order, so the batches are
    exactly those of ``batches[i]`` for the epoch that ``batches.set_epoch`` chose.
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):  # host memory: the pipeline runs there, not on a GPU
        images = tf.constant(np.asarray(batches.images))
        labels = tf.constant(np.asarray(batches.labels, "int32"))
    count = len(batches) * batches.batch_size if batches.shuffle else len(batches.images)

    def epoch_order(_):
        order = tf.numpy_function(lambda: batches.order()[:count].astype("int64"), [],
                                  tf.int64, stateful=True)
        return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(order, [count]))

    def gather(indices):
        one_hot = tf.one_hot(tf.gather(labels, indices), batches.num_classes)
        return tf.gather(images, indices), one_hot

    dataset = tf.data.Dataset.from_tensors(0).flat_map(epoch_order).batch(batches.batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))
    return dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def augmentation(seed=0):
    """The augmentation of the shapes and CIFAR-10 runs: random flips and shifts of up to
    10% (borders reflected), as a layer that acts in training mode only."""
    from resnet_lab.augment import augmentation as make

    return make("shift", seed=seed)


def load_dataset(name=OFFLINE_DEFAULT, image_size=64, batch_size=32, *, train_size=4000,
                 validation_size=1000, seed=0, root=None, workers=1):
    """Train and validation batches for a dataset, with its class names.

    Arguments:
        name: "shapes" (offline, generated), "imagenette" or "cifar10"; or a
            ``resnet_lab.config.RunConfig``, which then gives every other setting.
        image_size: side of the square images the model gets.
        batch_size: images per batch (the training batches drop a last partial one).
        train_size, validation_size: number of images, for "shapes" only.
        seed: seeds the generated data and the shuffling.
        root: the data folder (default: ``data_dir()``).
        workers: threads that prepare batches ahead of the model (Keras' PyDataset).
    """
    from resnet_lab.config import RunConfig

    if isinstance(name, RunConfig):
        config = name
        name, image_size, batch_size = config.dataset, config.image_size, config.batch_size
        train_size, validation_size = config.train_size, config.validation_size
        seed = config.seed
    _check_arguments(name, image_size, batch_size, train_size, validation_size)
    train, validation, class_names = load_arrays(
        name, image_size, train_size=train_size, validation_size=validation_size,
        seed=seed, root=root)
    if len(train[0]) < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(train[0])} "
                         f"training images of {name}: not one batch per epoch.")
    count = len(class_names)
    return Splits(Batches(*train, count, batch_size, shuffle=True, seed=seed, workers=workers),
                  Batches(*validation, count, batch_size, shuffle=False), class_names)


def _check_arguments(name, image_size, batch_size, train_size, validation_size):
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    for label, value, low in [("image_size", image_size, 1), ("batch_size", batch_size, 1),
                              ("train_size", train_size, 1),
                              ("validation_size", validation_size, 1)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{label} must be a positive integer; got {value!r}.")


def pipeline_throughput(batches, count=50):
    """Images per second the host delivers on its own (after one warm-up pass).

    Builds ``count`` batches (wrapping around the epoch), as the training loop asks
    for them, with no model in the way.
    """
    import time

    count = max(1, count)
    for index in range(min(count, len(batches))):
        batches[index]  # pages a memory-mapped cache in
    images, start = 0, time.perf_counter()
    for index in range(count):
        images += len(batches[index % len(batches)][0])
    return images / (time.perf_counter() - start)
