"""coursekit.metrics for classifiers (chapter 09): the confusion matrix and macro-F1 on cases worked
by hand, against scikit-learn when it is installed, and their errors."""

from __future__ import annotations

import pytest
import torch

from coursekit.metrics import confusion_matrix, macro_f1


def test_confusion_matrix_rows_are_true_columns_predicted():
    m = confusion_matrix([0, 2, 1, 1, 0, 2], [0, 1, 1, 2, 0, 2], num_classes=4)
    assert m.dtype == torch.long
    assert m.tolist() == [
        [2, 0, 0, 0],  # both 0s right
        [0, 1, 1, 0],  # one 1 right, one taken for a 2
        [0, 1, 1, 0],  # one 2 right, one taken for a 1
        [0, 0, 0, 0],  # class 3 occurs nowhere
    ]


@pytest.mark.parametrize(
    ("predictions", "labels", "k", "present", "all_classes"),
    [
        # class 0: TP 2, FP 1, FN 0 -> F1 4/5; class 1: TP 1, FP 0, FN 1 -> 2/3
        ([0, 0, 0, 1], [0, 0, 1, 1], 2, (0.8 + 2 / 3) / 2, (0.8 + 2 / 3) / 2),
        # class 0: 4/5; class 1: TP 1, FP 1 -> 2/3; class 2 never predicted (FN 2) -> 0
        ([0, 0, 1, 1, 0], [0, 0, 1, 2, 2], 3, (0.8 + 2 / 3) / 3, (0.8 + 2 / 3) / 3),
        # perfect on classes 0 and 1; class 2 occurs nowhere
        ([0, 1], [0, 1], 3, 1.0, 2 / 3),
        # class 0: TP 1, FN 1 -> 2/3; class 2 predicted but never true -> 0; class 1 nowhere
        ([0, 2], [0, 0], 3, 1 / 3, 2 / 9),
        ([1, 0], [0, 1], 2, 0.0, 0.0),  # all wrong
    ],
)
def test_macro_f1_by_hand(predictions, labels, k, present, all_classes):
    assert macro_f1(predictions, labels, k) == pytest.approx(present)
    assert macro_f1(torch.tensor(predictions), torch.tensor(labels), k) == pytest.approx(present)
    assert macro_f1(predictions, labels, k, include_absent=True) == pytest.approx(all_classes)


def test_macro_f1_is_not_the_accuracy():
    # 9 examples of class 0, 1 of class 1; always predicting 0: 90% accuracy, macro-F1 0.47
    predictions, labels = [0] * 10, [0] * 9 + [1]
    assert macro_f1(predictions, labels, 2) == pytest.approx((18 / 19 + 0) / 2)


def test_against_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        k = int(torch.randint(2, 7, (), generator=g))
        n = int(torch.randint(1, 40, (), generator=g))
        labels = torch.randint(0, k, (n,), generator=g)
        noise = torch.randint(0, k, (n,), generator=g)
        predictions = torch.where(torch.rand(n, generator=g) < 0.5, labels, noise)
        y, p = labels.numpy(), predictions.numpy()
        expected = metrics.f1_score(y, p, average="macro", zero_division=0)
        assert macro_f1(predictions, labels, k) == pytest.approx(expected), trial
        every = metrics.f1_score(y, p, average="macro", labels=range(k), zero_division=0)
        assert macro_f1(predictions, labels, k, include_absent=True) == pytest.approx(every)
        assert confusion_matrix(predictions, labels, k).tolist() == (
            metrics.confusion_matrix(y, p, labels=range(k)).tolist()
        )


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"labels hold class 3, outside 0\.\.2 \(num_classes=3\)"):
        macro_f1([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match=r"predictions hold class -1"):
        confusion_matrix([-1, 1], [0, 1], 3)
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        macro_f1([0, 1, 1], [0, 1], 2)
    with pytest.raises(TypeError, match=r"scores\.argmax\(-1\)"):
        macro_f1(torch.zeros(2, 3), [0, 1], 3)
    with pytest.raises(ValueError, match="no examples"):
        confusion_matrix([], [], 2)
