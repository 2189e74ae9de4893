"""The open exercises that go further (lessons 2, 3, 7, 8): right answers, in several
forms, pass; typical wrong ones get the sentence listed."""

import keras
import numpy as np
import pytest
from keras import layers

from resnet_lab import checks, family, models, transfer
from resnet_lab.checks import feedback
from resnet_lab.transfer import STAGES


@pytest.fixture(autouse=True)
def exact_fixes_at_once(monkeypatch):
    monkeypatch.setenv(feedback.EXPLAIN_ENV, "1")


def failure(check, answer):
    with pytest.raises(AssertionError) as info:
        check(answer)
    return str(info.value)


# ---------------------------------------------------------------------------------
# Lesson 2: ResNet-18's basic block.
# ---------------------------------------------------------------------------------


def basic(wrong=None, variant=None):
    def basic_block(X, filters, stage, block):
        X_shortcut = X
        for i in range(2):
            if variant == "explicit padding":
                X = layers.ZeroPadding2D(1)(X)
            padding = "valid" if variant == "explicit padding" or wrong == "valid" else "same"
            kernel = 1 if wrong == "1x1 first" and i == 0 else 3
            X = layers.Conv2D(filters * (2 if wrong == "double width" and i == 0 else 1),
                              kernel, padding=padding, use_bias=variant != "no bias")(X)
            X = layers.BatchNormalization(epsilon=1.001e-5)(X)
            if i == 0 or wrong == "ReLU before the addition":
                X = layers.ReLU()(X) if variant == "layers.ReLU" else layers.Activation("relu")(X)
        if wrong == "three convolutions":
            X = layers.Conv2D(filters, 3, padding="same")(X)
            X = layers.BatchNormalization(epsilon=1.001e-5)(X)
        X = X + X_shortcut if variant == "X + X_shortcut" else layers.Add()([X_shortcut, X])
        return X if wrong == "ReLU before the addition" else layers.Activation("relu")(X)
    return basic_block


@pytest.mark.parametrize("variant", [None, "explicit padding", "no bias", "layers.ReLU",
                                     "X + X_shortcut"])
def test_a_basic_block_passes_in_any_equivalent_form(variant, capsys):
    checks.check_basic_block(basic(variant=variant))
    assert capsys.readouterr().out.startswith("basic_block: all checks passed")


@pytest.mark.parametrize("wrong, message", [
    ("three convolutions",
     "your main path has 3 convolutions, but a basic block has two: how many layers deep "
     "is each block of ResNet-34 (34 = 2 + 2 x 16)? Exact fix: two 3x3 convolutions, each "
     "followed by BatchNorm."),
    ("1x1 first",
     "the first convolution should be 3x3, not 1x1: a basic block has no 1x1 convolutions "
     "(they are the bottleneck's)."),
    ("valid",
     "2 mistakes: (1) the first convolution shrinks the image: how does a 3x3 convolution "
     "keep the size? (2) the second convolution shrinks the image: how does a 3x3 "
     "convolution keep the size? Exact fix: (1) padding='same'. (2) padding='same'."),
    ("ReLU before the addition",
     "2 mistakes: (1) the main path is a convolution, BatchNorm, a ReLU, a convolution and "
     "BatchNorm (the last ReLU comes after the addition), but yours has a Conv2D, a "
     "BatchNormalization, a ReLU, a Conv2D, a BatchNormalization, a ReLU. (2) no ReLU "
     "after the addition: the block's output is relu(F(X) + X). Exact fix: (2) apply a "
     "ReLU to the sum."),
])
def test_basic_block_mistakes_are_named(wrong, message):
    assert failure(checks.check_basic_block, basic(wrong)) == message


def test_the_packages_basic_block_is_refused():
    def basic_block(X, filters, stage, block):
        return family.basic_block(X, filters, 1, f"{stage}{block}")
    assert "uses resnet_lab's own basic_block" in failure(checks.check_basic_block, basic_block)


# ---------------------------------------------------------------------------------
# Lesson 3: option A.
# ---------------------------------------------------------------------------------


def option_a(way):
    def option_a_shortcut(X, channels, s):
        extra = channels - X.shape[-1]
        if way == "slice and pad at the end":
            return keras.ops.pad(X[:, ::s, ::s, :], [[0, 0], [0, 0], [0, 0], [0, extra]])
        if way == "pool and pad both sides":
            X = layers.MaxPooling2D(1, strides=s)(X)
            return keras.ops.pad(X, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        if way == "average pooling":
            X = layers.AveragePooling2D(s, strides=s, padding="same")(X) if s > 1 else X
            return keras.ops.pad(X, [[0, 0], [0, 0], [0, 0], [0, extra]])
        if way == "projection":
            return layers.Conv2D(channels, 1, strides=s)(X)
        if way == "ones":
            return keras.ops.pad(X[:, ::s, ::s, :], [[0, 0], [0, 0], [0, 0], [0, extra]],
                                 constant_values=1.0)
        if way == "no subsampling":
            return keras.ops.pad(X, [[0, 0], [0, 0], [0, 0], [0, extra]])
        raise AssertionError(way)
    return option_a_shortcut


@pytest.mark.parametrize("way", ["slice and pad at the end", "pool and pad both sides"])
def test_option_a_passes_however_it_is_written(way, capsys):
    checks.check_option_a_shortcut(option_a(way))
    assert capsys.readouterr().out.startswith("option_a_shortcut: all checks passed")


def test_the_packages_option_a_passes_when_typed_in(capsys):
    def option_a_shortcut(X, channels, s):  # pad_shortcut's code, as a learner types it
        height, breadth, c = X.shape[1:]
        X = layers.MaxPooling2D(1, strides=s)(X)
        extra = channels - c
        X = layers.Reshape((-(-height // s), -(-breadth // s), c, 1))(X)
        X = layers.ZeroPadding3D(((0, 0), (0, 0), (extra // 2, extra - extra // 2)))(X)
        return layers.Reshape((-(-height // s), -(-breadth // s), channels))(X)
    checks.check_option_a_shortcut(option_a_shortcut)
    assert "all checks passed" in capsys.readouterr().out

    def refused(X, channels, s):
        return models.pad_shortcut(X, channels, s, "x")
    assert "uses resnet_lab's own pad_shortcut" in failure(checks.check_option_a_shortcut,
                                                           refused)


@pytest.mark.parametrize("way, message", [
    ("average pooling",
     "with s=2: your shortcut pools each s x s window: option A keeps one pixel of each "
     "window (the top-left, as a strided 1x1 convolution would), and averaging is "
     "ResNet-D's idea (lesson 8)."),
    ("projection",
     "your shortcut has 32 weights, but option A has none: that is what makes it free. How "
     "can X be brought to 8 channels and 1/2 of the size without learning anything? Exact "
     "fix: keep every s-th pixel (X[:, ::s, ::s, :] or MaxPooling2D(1, strides=s)) and pad "
     "the new channels with zeros."),
    ("ones", "with s=2: the 5 new channels should be zeros, with X's 3 channels unchanged "
             "and in order beside them."),
    ("no subsampling", "option_a_shortcut(X, 8, 2) on X of shape (None, 9, 8, 3) should "
                       "return shape (None, 5, 4, 8), but yours returns (None, 9, 8, 8)."),
])
def test_option_a_mistakes_are_named(way, message):
    assert failure(checks.check_option_a_shortcut, option_a(way)) == message


# ---------------------------------------------------------------------------------
# Lesson 7: freeze_up_to.
# ---------------------------------------------------------------------------------


def freezer(wrong=None):
    def freeze_up_to(base, stage):
        last = -1 if stage is None else STAGES.index(stage)
        if wrong != "only freezes":
            base.trainable = True  # (in Keras 3 this also sets every layer's own flag)
        for layer in base.layers:
            part = transfer.stage_of(layer.name)
            frozen = part in STAGES and STAGES.index(part) <= last
            if isinstance(layer, layers.BatchNormalization) and wrong != "BatchNorm trains":
                frozen = True
            if wrong == "only freezes" and not frozen:
                continue  # never unfreezes what an earlier call froze
            layer.trainable = not frozen
    return freeze_up_to


def test_freeze_up_to_passes_and_counts_stage_5(capsys):
    checks.check_freeze_up_to(freezer())
    assert "14,953,472 parameters train: stage 5's" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    ("BatchNorm trains",
     "after freeze_up_to(base, 'stage 4') BatchNorm layers train (in stage 5): fine-tuning "
     "on a few images would replace their statistics, learnt on the large dataset, with "
     "those of small batches of the new one (see 'BatchNorm when you fine-tune'). Exact "
     "fix: keep every BatchNormalization layer frozen, wherever it is."),
    ("only freezes",
     "after freeze_up_to(base, 'stage 2') layers of stage 3, stage 4 are frozen, but the "
     "stages after stage 2 should train (calls before it: 'stage 4'; does yours unfreeze "
     "what an earlier call froze?)."),
])
def test_freeze_up_to_mistakes_are_named(wrong, message):
    assert failure(checks.check_freeze_up_to, freezer(wrong)) == message


def test_the_packages_freeze_up_to_is_refused():
    assert "uses resnet_lab's own freeze_up_to" in failure(checks.check_freeze_up_to,
                                                           transfer.freeze_up_to)


# ---------------------------------------------------------------------------------
# Lesson 8: a grouped convolution.
# ---------------------------------------------------------------------------------


def grouped(wrong=None):
    def grouped_conv(X, filters, groups):
        if wrong == "groups=":
            return layers.Conv2D(filters, 3, padding="same", groups=groups)(X)
        if wrong == "dense":
            return layers.Conv2D(filters, 3, padding="same")(X)
        size = X.shape[-1] // groups
        outputs = []
        for g in range(groups):
            part = X if wrong == "every group sees everything" else \
                X[..., g * size:(g + 1) * size]
            if wrong == "groups in reverse order":
                part = X[..., (groups - 1 - g) * size:(groups - g) * size]
            outputs.append(layers.Conv2D(filters // groups, 3, padding="same")(part))
        if wrong == "every group sees everything" or groups == 1:
            return outputs[0] if groups == 1 else layers.Concatenate()(outputs)
        return layers.Concatenate()(outputs)
    return grouped_conv


def test_a_grouped_convolution_built_from_slices_passes(capsys):
    checks.check_grouped_conv(grouped())
    assert capsys.readouterr().out.startswith("grouped_conv: all checks passed")


@pytest.mark.parametrize("wrong, message", [
    ("groups=", "your grouped_conv uses Conv2D's own groups= argument: the exercise is to "
                "build what it does from ordinary convolutions"),
    ("dense", "grouped_conv(X, 12, 4) on X with 8 channels: your convolutions have 864 "
              "kernel weights, but a grouped 3x3 convolution from 8 to 12 channels in 4 "
              "groups has 216 (one over all channels has 864)"),
    ("every group sees everything", "your convolutions have 864 kernel weights"),
    ("groups in reverse order", "your layers have the weights of a grouped convolution, "
                                "but do not compute one"),
])
def test_grouped_conv_mistakes_are_named(wrong, message):
    assert message in failure(checks.check_grouped_conv, grouped(wrong))


# ---------------------------------------------------------------------------------
# Lesson 1: a skip connection across a change of channels.
# ---------------------------------------------------------------------------------


def projected(wrong=None):
    def projected_skip(x, fx):
        if x.shape[-1] != fx.shape[-1] or wrong == "projection always":
            kernel = 3 if wrong == "3x3 projection" else 1
            if wrong != "no projection":
                x = layers.Conv2D(fx.shape[-1], kernel, padding="same")(x)
        total = layers.Add()([x, fx])
        return total if wrong == "no ReLU" else layers.Activation("relu")(total)
    return projected_skip


def test_a_projected_skip_passes(capsys):
    checks.check_projected_skip(projected())
    assert capsys.readouterr().out.startswith("projected_skip: all checks passed")


@pytest.mark.parametrize("wrong, message", [
    ("no projection",
     "projected_skip(x, fx) with x of 4 channels and F(x) of 8: x and F(x) cannot be added, "
     "their channels differ. What maps x to 8 channels, pixel by pixel, so that the sum "
     "exists? Exact fix: a 1x1 convolution of x with fx.shape[-1] filters, "
     "layers.Conv2D(fx.shape[-1], 1)(x)."),
    ("projection always",
     "projected_skip(x, fx) with x of 4 channels and F(x) of 4: the shapes agree, so x "
     "itself is added: a projection here is learnt for nothing (that is the paper's option "
     "C, lesson 3)."),
    ("3x3 projection",
     "projected_skip(x, fx) with x of 4 channels and F(x) of 8: a 1x1 convolution changes "
     "the channels and nothing else; yours is 3x3, which also mixes neighbouring pixels."),
    ("no ReLU",
     "projected_skip(x, fx) with x of 4 channels and F(x) of 4: no ReLU after the addition. "
     "Exact fix: apply a ReLU to the sum."),
])
def test_projected_skip_mistakes_are_named(wrong, message):
    assert failure(checks.check_projected_skip, projected(wrong)) == message


# ---------------------------------------------------------------------------------
# Lesson 4: ResNet-50's stem.
# ---------------------------------------------------------------------------------


def stem(way=None):
    def stem(X):
        if way == "same padding":
            X = layers.Conv2D(64, 7, strides=2, padding="same")(X)
        else:
            X = layers.ZeroPadding2D(3)(X)
            X = layers.Conv2D(64, 5 if way == "5x5" else 7, strides=2,
                              use_bias=way != "no bias")(X)
        X = layers.BatchNormalization(epsilon=1.001e-5)(X)
        X = layers.Activation("relu")(X)
        if way in ("same padding", "same pool"):
            return layers.MaxPooling2D(3, strides=2, padding="same")(X)
        return layers.MaxPooling2D(3, strides=2)(layers.ZeroPadding2D(1)(X))
    return stem


@pytest.mark.parametrize("way", [None, "no bias"])
def test_the_stem_passes_padded_as_keras_applications(way, capsys):
    checks.check_stem(stem(way))
    assert capsys.readouterr().out.startswith("stem: all checks passed")


@pytest.mark.parametrize("way, message", [
    ("same padding", "your stem has keras.applications' shapes but other outputs: with "
                     "padding='same' and stride 2, Keras pads a 64x64 image unevenly (fewer "
                     "pixels before than after) in your convolution and max pool"),
    ("same pool", "in your max pool, where keras.applications pads the same on both sides"),
    ("5x5", "the stem's convolution is 7x7 with 64 filters and stride 2; yours is 5x5"),
])
def test_stem_mistakes_are_named(way, message):
    assert message in failure(checks.check_stem, stem(way))


def test_the_packages_resnet50_is_refused_as_a_stem():
    def stem(X):
        return models.ResNet50(include_top=False, input_tensor=X).output
    assert "uses resnet_lab's own ResNet50" in failure(checks.check_stem, stem)


# ---------------------------------------------------------------------------------
# Lesson 5: mixup.
# ---------------------------------------------------------------------------------


def mixer(wrong=None):
    def mixup(images, labels, alpha, seed):
        rng = np.random.default_rng(None if wrong == "unseeded" else
                                    0 if wrong == "seed ignored" else seed)
        n = len(images)
        if wrong == "per-image weights, two permutations":
            lam = rng.beta(alpha, alpha, size=n)
            a, b = rng.permutation(n), rng.permutation(n)
            shape = (n, 1, 1, 1)
            return (lam.reshape(shape) * images[a] + (1 - lam.reshape(shape)) * images[b],
                    lam[:, None] * labels[a] + (1 - lam[:, None]) * labels[b])
        lam = 1.0 if wrong == "no mixing" else 1.5 if wrong == "lam > 1" else \
            rng.beta(alpha, alpha)
        perm = rng.permutation(n)
        mixed = lam * images + (1 - lam) * images[perm]
        if wrong == "noise":
            mixed = mixed + rng.normal(0, 0.1, mixed.shape)
        mixed_labels = labels if wrong == "labels unmixed" else \
            lam * labels + (1 - lam) * labels[perm]
        return mixed, mixed_labels
    return mixup


@pytest.mark.parametrize("variant", [None, "per-image weights, two permutations"])
def test_mixup_passes_however_it_pairs(variant, capsys):
    checks.check_mixup(mixer(variant))
    assert capsys.readouterr().out.startswith("mixup: all checks passed")


@pytest.mark.parametrize("wrong, message", [
    ("labels unmixed", "but its label is one image's alone: what should the label of a "
                       "mixed image say? Exact fix: mix the labels with the same weights"),
    ("lam > 1", "a weight outside [0, 1] extrapolates instead of mixing"),
    ("noise", "is not a weighted average of two images of the batch"),
    ("unseeded", "mixup(images, labels, alpha, seed=1) mixes differently at every call"),
    ("seed ignored", "mixup mixes the same way whatever the seed"),
    ("no mixing", "every output image is one of the inputs, unmixed"),
])
def test_mixup_mistakes_are_named(wrong, message):
    assert message in failure(checks.check_mixup, mixer(wrong))
