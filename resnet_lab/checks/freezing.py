"""Lesson 7, going further: ``freeze_up_to(base, stage)``, what decides which layers
of a pretrained ResNet-50 train when it is fine-tuned.

The check builds a ResNet-50 without its top (random weights: only the layers matter),
calls the learner's function several times on the same base, as a learner who tries
one stage after another does, and compares every layer's ``trainable`` flag, and the
number of trainable parameters, with the rule of the lesson.
"""

import keras
import numpy as np

from resnet_lab import models
from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate
from resnet_lab.summary import stage_of
from resnet_lab.transfer import STAGES, frozen_by

# Called one after the other on the same base: each call must undo what the last one did.
FREEZE_CALLS = ("stage 4", "stage 2", None, "stage 5", "stem", "stage 4")
STAGE_5_TRAINABLE = 14_953_472  # stage 5 of ResNet-50, its BatchNorm layers left out


@learner_check(keep_random_state=True)
def check_freeze_up_to(freeze_up_to):
    """Lesson 7, going further: ``freeze_up_to(base, stage)``."""
    name = "freeze_up_to"
    base = models.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    for i, stage in enumerate(FREEZE_CALLS):
        call = f"{name}(base, {stage!r})"
        try:
            call_learner(freeze_up_to, name, base, stage)
        except Failure as failure:
            raise Mistake(translate(failure, call)) from None
        mistake = _flags_mistake(base, stage, call, earlier=FREEZE_CALLS[:i])
        if mistake:
            raise Mistake(mistake)
    trainable = sum(int(np.prod(w.shape)) for w in base.trainable_weights)
    if trainable != STAGE_5_TRAINABLE:  # the flags are right, so this would be a check's bug
        raise AssertionError(f"{trainable} trainable parameters after {FREEZE_CALLS[-1]!r}")
    print(f"freeze_up_to: all checks passed (after freeze_up_to(base, 'stage 4') "
          f"{trainable:,} parameters train: stage 5's, without its BatchNorm; each call "
          f"undoes the one before).")


def _flags_mistake(base, stage, call, earlier):
    if not base.trainable:
        return with_fix(f"after {call} base.trainable is False, and a model that is not "
                        f"trainable trains none of its layers, whatever their own flags "
                        f"say.", "set base.trainable = True, then choose layer by layer.")
    layers = [layer for layer in base.layers if layer.weights]
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if any(layer.trainable for layer in norms):
        where = sorted({stage_of(layer.name) for layer in norms if layer.trainable},
                       key=STAGES.index)
        return with_fix(f"after {call} BatchNorm layers train (in {', '.join(where)}): "
                        f"fine-tuning on a few images would replace their statistics, "
                        f"learnt on the large dataset, with those of small batches of the "
                        f"new one (see 'BatchNorm when you fine-tune').",
                        "keep every BatchNormalization layer frozen, wherever it is.")
    others = [layer for layer in layers if layer not in norms]
    wrongly_trained = [layer for layer in others
                       if layer.trainable and frozen_by(layer, stage)]
    wrongly_frozen = [layer for layer in others
                      if not layer.trainable and not frozen_by(layer, stage)]
    if wrongly_trained:
        parts = sorted({stage_of(layer.name) for layer in wrongly_trained}, key=STAGES.index)
        why = (" (an earlier call unfroze them: set every layer's flag, every time)"
               if earlier else "")
        return (f"after {call} layers of {', '.join(parts)} still train, though the stem "
                f"and the stages up to {stage} should be frozen{why}.")
    if wrongly_frozen:
        parts = sorted({stage_of(layer.name) for layer in wrongly_frozen}, key=STAGES.index)
        later = "every layer but BatchNorm" if stage is None else \
            f"the stages after {stage}"
        why = (f" (calls before it: {', '.join(map(repr, earlier))}; does yours unfreeze "
               f"what an earlier call froze?)" if earlier else "")
        return (f"after {call} layers of {', '.join(parts)} are frozen, but {later} should "
                f"train{why}.")
    return None
