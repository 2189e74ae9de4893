"""Transfer learning (resnet_lab.transfer, lesson 7): subsets, freezing, the bases.

ResNet-50 bases are built once per module; training runs on a small base whose layers
carry ResNet names (the check of lesson 7 uses the same one).
"""

import json
import re

import keras
import nbformat
import numpy as np
import pytest
import test_data

from resnet_lab import checks, data, transfer
from resnet_lab.commands import course, notebooks
from resnet_lab.models import ResNet50
from resnet_lab.weights import randomize_weights


@pytest.fixture(scope="module")
def resnet_base():
    """Our ResNet-50 without its top, for 32x32 images, with random BatchNorm statistics."""
    base = ResNet50(include_top=False, input_shape=(32, 32, 3))
    randomize_weights(base, seed=1)
    return base


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# --- labelled subsets --------------------------------------------------------------

def test_labelled_subset_takes_n_per_class_at_random_nested_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    images = np.arange(100)  # each "image" is its own index
    small, small_labels = transfer.labelled_subset(images, labels, 3, seed=5)
    large, large_labels = transfer.labelled_subset(images, labels, 10, seed=5)
    assert np.bincount(small_labels).tolist() == [3, 3, 3, 3]
    assert np.array_equal(labels[small], small_labels) and np.array_equal(labels[large],
                                                                         large_labels)
    assert set(small) <= set(large)  # the 3 per class are among the 10
    again, _ = transfer.labelled_subset(images, labels, 3, seed=5)
    other, _ = transfer.labelled_subset(images, labels, 3, seed=6)
    assert np.array_equal(small, again) and set(small) != set(other)
    assert sorted(small_labels) != small_labels.tolist()  # shuffled, not sorted by class


@pytest.mark.parametrize("labels, per_class, message", [
    (np.repeat(np.arange(3), [5, 2, 5]), 4,
     r"Asked for 4 labelled images per class, but class 1 has only 2: ask for at most 2\."),
    (np.eye(3)[np.arange(12) % 3], 2, r"class indices.*labels\.argmax\(1\)"),
    (np.arange(12) % 3, 0, "per_class must be a positive whole number; got 0"),
    (np.arange(12) % 3, 2.0, "per_class must be a positive whole number; got 2.0"),
])
def test_labelled_subset_refuses_bad_requests_with_a_clear_error(labels, per_class, message):
    with pytest.raises(ValueError, match=message):
        transfer.labelled_subset(np.zeros((len(labels), 2)), labels, per_class)


# --- freezing ------------------------------------------------------------------------

def test_freeze_up_to_trains_the_later_stages_and_keeps_every_batchnorm_frozen(resnet_base):
    transfer.freeze_up_to(resnet_base, "stage 4")
    for layer in resnet_base.layers:
        if not layer.weights:
            continue
        stage_5_conv = layer.name.startswith("res5") and isinstance(layer, keras.layers.Conv2D)
        assert layer.trainable == stage_5_conv, layer.name
    stage_5 = sum(layer.count_params() for layer in resnet_base.layers
                  if layer.name.startswith("res5") and isinstance(layer, keras.layers.Conv2D))
    assert trainable_count(resnet_base) == stage_5 == 14_953_472

    transfer.freeze_up_to(resnet_base, "stage 5")
    assert trainable_count(resnet_base) == 0
    transfer.freeze_up_to(resnet_base, None)  # everything but BatchNorm
    assert trainable_count(resnet_base) == 23_481_472  # 23,587,712 - 106,240 in BatchNorm
    transfer.freeze_up_to(resnet_base, "stem")
    assert trainable_count(resnet_base) == 23_481_472 - 9_472  # conv1: kernel and bias


def test_freeze_up_to_reads_keras_applications_layer_names_too():
    theirs = keras.applications.ResNet50(weights=None, include_top=False,
                                         input_shape=(32, 32, 3))
    transfer.freeze_up_to(theirs, "stage 4")
    assert trainable_count(theirs) == 14_953_472
    assert {transfer.stage_of(layer.name) for layer in theirs.layers if layer.trainable and
            layer.weights} == {"stage 5"}


def test_freeze_up_to_names_the_stages_for_an_unknown_one(resnet_base):
    with pytest.raises(ValueError, match=r"Unknown stage 'stage 6'; choose one of stem, "
                                         r"stage 2, stage 3, stage 4, stage 5"):
        transfer.freeze_up_to(resnet_base, "stage 6")
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="has no ResNet-50 stages"):
        transfer.freeze_up_to(small, "stage 4")


def test_a_frozen_batchnorm_keeps_its_statistics_when_fit_trains_the_rest():
    """fit calls the model with training=True, which reaches the nested base even though
    transfer_model calls it with training=False: only frozen BatchNorm layers keep their
    statistics."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)

    def fit_once(unfreeze):
        base = checks.small_base()
        model = transfer.transfer_model(base, 3)
        unfreeze(base)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        norms = [layer for layer in base.layers
                 if isinstance(layer, keras.layers.BatchNormalization)]
        before = [layer.moving_mean.numpy().copy() for layer in norms]
        kernel = base.get_layer("res5a_branch2a").kernel.numpy().copy()
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
        moved = max(np.abs(layer.moving_mean.numpy() - b).max()
                    for layer, b in zip(norms, before, strict=True))
        return moved, np.abs(base.get_layer("res5a_branch2a").kernel.numpy() - kernel).max()

    moved, kernel_change = fit_once(lambda base: transfer.freeze_up_to(base, None))
    assert moved == 0 and kernel_change > 0
    moved, _ = fit_once(lambda base: setattr(base, "trainable", True))
    assert moved > 0  # Keras 3: training=False on the nested base does not protect it


# --- the bases and the model -----------------------------------------------------------

def test_backbone_is_the_classifier_up_to_its_pooling_with_the_same_weights():
    classifier = ResNet50(input_shape=(32, 32, 3), classes=5)
    base = transfer.backbone(classifier)
    assert tuple(base.output.shape) == (None, 1, 1, 2048)
    assert {id(w) for w in base.weights} <= {id(w) for w in classifier.weights}
    assert base.count_params() == classifier.count_params() - (2048 * 5 + 5)
    with pytest.raises(ValueError, match="one GlobalAveragePooling2D"):
        transfer.backbone(base)


def test_transfer_model_trains_only_the_new_classifier(resnet_base):
    model = transfer.transfer_model(resnet_base, 5)
    assert not resnet_base.trainable
    assert trainable_count(model) == 2048 * 5 + 5
    table = transfer.trainable_table(model)
    assert re.search(r"stage 5\s+14,998,528\s+0\s+0.0%", table)
    assert re.search(r"head\s+10,245\s+10,245\s+100.0%", table)
    probabilities = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert probabilities.shape == (2, 5) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="num_classes must be a whole number, 2 or more"):
            transfer.transfer_model(resnet_base, bad)


def test_the_lessons_check_refuses_the_package_answer_and_passes_its_own_code(capsys):
    def build_transfer_model(base, num_classes):
        return transfer.transfer_model(base, num_classes)

    with pytest.raises(AssertionError, match="uses resnet_lab's own transfer_model"):
        checks.check_transfer_model(build_transfer_model)

    def written_out(base, num_classes):  # the same model, from Keras layers
        base.trainable = False
        images = keras.Input(shape=base.inputs[0].shape[1:])
        pooled = keras.layers.GlobalAveragePooling2D()(base(images, training=False))
        return keras.Model(images, keras.layers.Dense(num_classes, activation="softmax")(
            keras.layers.Dropout(0.2)(pooled)))

    checks.check_transfer_model(written_out)
    assert "all checks passed" in capsys.readouterr().out


def test_imagenet_preprocessing_is_preprocess_input_as_a_layer():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    layer = transfer.ImageNetPreprocessing()
    expected = keras.applications.resnet.preprocess_input(images.copy())
    assert np.allclose(keras.ops.convert_to_numpy(layer(images)), expected, atol=1e-4)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, transfer.ImageNetPreprocessing)


def test_imagenet_base_downloads_the_weights_and_preprocesses_raw_pixels(weights_server):
    _, files = weights_server
    base = transfer.imagenet_base(64)
    theirs = files[False][2]  # the keras.applications model the served file came from
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = theirs.predict(keras.applications.resnet.preprocess_input(images.copy()),
                              verbose=0)
    assert np.abs(base.predict(images, verbose=0) - expected).max() < 1e-4


def test_the_other_shapes_are_new_kinds_drawn_like_the_first_ones():
    assert not set(data.OTHER_SHAPES_CLASSES) & set(data.SHAPES_CLASSES)
    images, labels = data.make_shapes(500, 24, seed=1, classes=data.OTHER_SHAPES_CLASSES)
    assert set(labels) == set(range(5))
    x = np.hstack([images.reshape(500, -1) / 255, np.ones((500, 1))])
    weights, *_ = np.linalg.lstsq(x[:400], np.eye(5)[labels[:400]], rcond=1e-3)
    assert np.mean((x[400:] @ weights).argmax(1) == labels[400:]) > 0.3  # chance: 0.2
    with pytest.raises(ValueError, match="classes must be different names among circle"):
        data.make_shapes(4, 8, classes=["circle", "pentagon"])


# --- lesson 7 ----------------------------------------------------------------------------

def run_config_texts(name):
    """{profile: 'RunConfig(...)'} of the smoke and cpu profiles in a lesson's code."""
    text = "\n".join(cell.source for cell in nbformat.read(notebooks.NOTEBOOKS / name, 4).cells
                     if cell.cell_type == "code")
    return {profile: " ".join(re.search(rf"\b{profile}=(RunConfig\([^)]*\))", text).group(1)
                              .split())
            for profile in ("smoke", "cpu")}


def test_lesson_7_pretrains_with_lesson_5s_settings_so_it_reuses_its_run():
    assert run_config_texts("07_transfer_learning.ipynb") == run_config_texts(
        "05_train_resnet50.ipynb")


@pytest.mark.slow  # about 75 s on 2 cores: make test-online runs it
@pytest.mark.timeout(1200)  # the lesson's cells may take 900 s each
def test_lesson_7_runs_online_with_weights_and_imagenette_served_locally(
        weights_server, tmp_path):
    """Lesson 7 with ONLINE = True: ImageNet weights (top and no top) and Imagenette come
    from 127.0.0.1 through the course's own download code, in the lesson's kernel."""
    from nbclient import NotebookClient

    folder, files = weights_server
    wnids = sorted(data.IMAGENETTE_CLASSES)
    archive = test_data.tar_gz({f"imagenette2-160/{split}/{wnid}/{i}.JPEG": test_data.jpeg_bytes(i)
                      for split, count in (("train", 3), ("val", 2)) for wnid in wnids
                      for i in range(count)})
    (folder / data.ARCHIVES["imagenette"].fname).write_bytes(archive)
    settings = tmp_path / "served.json"
    settings.write_text(json.dumps({
        "base_url": transfer_base_url(), "weights": [files[True][1], files[False][1]],
        "archive_sha256": __import__("hashlib").sha256(archive).hexdigest(),
        "archive_size": len(archive)}))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    nb = nbformat.read(notebooks.NOTEBOOKS / "07_transfer_learning.ipynb", 4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += "\nONLINE = True"
    with course.environment(RESNET_LAB_PROFILE="smoke", PYTHONPATH=str(site),
                            RESNET_LAB_SERVED=str(settings),
                            RESNET_LAB_DATA=str(tmp_path / "data"),
                            KERAS_HOME=str(tmp_path / "keras")):
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={
            "metadata": {"path": str(notebooks.NOTEBOOKS)}}).execute()
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs if o.output_type == "stream" and o.name == "stdout")
    assert "profile smoke, online: True" in printed
    assert "10 classes: tench, English springer" in printed
    assert "preprocessing its own" in printed and "caffe (right)" in printed
    assert "2 labels per class: from scratch" in printed
    assert (tmp_path / "keras" / "models" / files[False][0]).exists()


def transfer_base_url():
    from resnet_lab import weights

    return weights.WEIGHTS_BASE_URL


SITECUSTOMIZE = '''\
"""Point the course's downloads at files served on 127.0.0.1 (lesson 7's online test)."""
import dataclasses
import json
import os

from keras.src.applications import imagenet_utils

from resnet_lab import data, registry, weights

served = json.load(open(os.environ["RESNET_LAB_SERVED"]))
weights.WEIGHTS_BASE_URL = served["base_url"]
registry.MODELS["resnet50"] = dataclasses.replace(registry.MODELS["resnet50"],
                                                  imagenet_weights=tuple(served["weights"]))
spec = data.ARCHIVES["imagenette"]
data.ARCHIVES["imagenette"] = registry.RemoteArchive(
    name=spec.name, origin=served["base_url"] + spec.fname, sha256=served["archive_sha256"],
    size=served["archive_size"], folder=spec.folder, licence=spec.licence)
# decode_predictions' class names, which it would download once
imagenet_utils.CLASS_INDEX = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
'''
