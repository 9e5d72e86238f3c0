"""Fine-tuning a pretrained GPT to classify text (chapter 09): the classifier, its loss, its
predictions, and the three ways to fine-tune it through the one training loop.

:class:`GPTClassifier` reads the hidden states of a pretrained :class:`~coursekit.nn.GPT`
(:meth:`~coursekit.nn.GPT.features`), pools them into one vector per text and maps it to
``num_classes`` scores with a linear head. :func:`classification_loss` is the ``loss_fn`` of
:func:`coursekit.train.train` for :class:`~coursekit.data.batching.ClassificationBatch` es (it
also reports the accuracy), and :func:`predict` gives the predicted and true labels for the
metrics (:func:`coursekit.metrics.macro_f1`, :func:`coursekit.metrics.confusion_matrix`).

What trains is the only difference between the three modes of :func:`finetune_optimizer`
(frozen = ``requires_grad=False``; the loop is the same :func:`~coursekit.train.train`):

- ``"probe"``: a linear probe. The body is frozen and only the head learns: it measures what
  the pretrained features already hold.
- ``"full"``: everything learns, optionally with discriminative learning rates (Howard and
  Ruder, 2018): the head its own ``head_lr``, and each block ``layer_decay`` times the rate of
  the block above it, since the lower layers hold the more general features.
- ``"lora"``: the body is frozen except the LoRA matrices that
  :func:`~coursekit.nn.lora.add_lora` put into it (Hu et al., 2021); the head learns too.

Where things are (every name below is importable from ``coursekit.finetune``):

- ``classifier.py``: :class:`ClassifierConfig`, :class:`GPTClassifier`, :func:`pool`,
  :func:`classification_loss`, :func:`predict`, :func:`load_body`.
- ``modes.py``: :func:`set_trainable`, :func:`param_groups`, :func:`finetune_optimizer`,
  :func:`count_trainable`.
- ``runs.py``: :func:`build_classifier`, :func:`finetune`, :func:`score`,
  :func:`measured_finetuning`.
- ``probe.py``: :func:`pooled_features` (the frozen body's features, computed once),
  :func:`split_features` (the same, row ``i`` for item ``i`` of a task's split),
  :func:`fit_probe` (a linear probe trained on them).
- ``task.py``: :func:`load_task`, :class:`ClassificationTask` (label budgets, length-bucketed
  batches).
"""

from coursekit.finetune.classifier import (
    POOLINGS,
    ClassifierConfig,
    GPTClassifier,
    classification_loss,
    load_body,
    pool,
    predict,
)
from coursekit.finetune.modes import (
    MODES,
    count_trainable,
    finetune_optimizer,
    param_groups,
    set_trainable,
)
from coursekit.finetune.probe import fit_probe, pooled_features, split_features
from coursekit.finetune.runs import (
    LORA_TARGETS,
    build_classifier,
    finetune,
    measured_finetuning,
    score,
)
from coursekit.finetune.task import ClassificationTask, load_task

__all__ = [
    "LORA_TARGETS",
    "MODES",
    "POOLINGS",
    "ClassificationTask",
    "ClassifierConfig",
    "GPTClassifier",
    "build_classifier",
    "classification_loss",
    "count_trainable",
    "finetune",
    "finetune_optimizer",
    "fit_probe",
    "load_body",
    "load_task",
    "measured_finetuning",
    "param_groups",
    "pool",
    "pooled_features",
    "predict",
    "score",
    "set_trainable",
    "split_features",
]
