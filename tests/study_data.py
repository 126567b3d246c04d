"""The study's printed numbers, transcribed from ``study/000_5f992a6947082a57.txt``.

This is test data, not package code. Every value below is copied as printed in the study: fold
confusion matrices (rows = true real/fake, columns = predicted real/fake), the four metrics printed
for each fold (4 decimals), the printed "Average Performance" block, and the final table
"Performance For All Models".

The study is not fully self-consistent; ``tests/test_metrics.py`` checks every printed number
against what its own confusion matrices give, and lists the places where they disagree.

Names:
    ``STUDY_RUNS``: one dict per model/fine-tuning row (12), in the study's order.
    ``STUDY_FINAL_TABLE``: the final table as printed (percentages as floats, e.g. 59.43).
"""

from __future__ import annotations


def _fold(fold: int, cm, accuracy: float, precision: float, recall: float, f1: float) -> dict:
    return {
        "fold": fold,
        "confusion_matrix": cm,
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _avg(accuracy: float, precision: float, recall: float, f1: float) -> dict:
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


STUDY_RUNS: list[dict] = [
    {
        # The study's "Vgg-16 Performance without Fine-Tune". Its folds hold only 680-681 images
        # each (the other rows hold 3635), and the printed averages do not match these folds.
        "model": "vgg16",
        "finetune": False,
        "lr": 0.0001754805798745925,
        "folds": [
            _fold(1, [[265, 58], [230, 128]], 0.5771, 0.6157, 0.5771, 0.5547),
            _fold(2, [[271, 58], [214, 137]], 0.6000, 0.6330, 0.6000, 0.5812),
            _fold(3, [[278, 30], [260, 112]], 0.5735, 0.6655, 0.5735, 0.5361),
        ],
        "average": _avg(0.5943, 0.6244, 0.5943, 0.5810),
        "average_confusion_matrix": [
            [240.66666667, 79.33333333],
            [196.66666667, 163.66666667],
        ],
    },
    {
        "model": "vgg16",
        "finetune": True,
        "lr": 2.5126450824282805e-05,
        "folds": [
            _fold(1, [[1774, 90], [188, 1583]], 0.9235, 0.9247, 0.9235, 0.9234),
            _fold(2, [[1761, 73], [210, 1591]], 0.9221, 0.9245, 0.9221, 0.9220),
            _fold(3, [[1673, 121], [169, 1672]], 0.9202, 0.9205, 0.9202, 0.9202),
        ],
        "average": _avg(0.9220, 0.9232, 0.9220, 0.9219),
        "average_confusion_matrix": [[1736.0, 94.66666667], [189.0, 1615.33333333]],
    },
    {
        "model": "resnet50",
        "finetune": False,
        "lr": 0.0006172423196498955,
        "folds": [
            _fold(1, [[1436, 428], [574, 1197]], 0.7243, 0.7252, 0.7243, 0.7236),
            _fold(2, [[1547, 287], [740, 1061]], 0.7175, 0.7313, 0.7175, 0.7127),
            _fold(3, [[1495, 299], [697, 1144]], 0.7260, 0.7381, 0.7260, 0.7231),
        ],
        "average": _avg(0.7226, 0.7315, 0.7226, 0.7198),
        "average_confusion_matrix": [[1492.66666667, 338.0], [670.33333333, 1134.0]],
    },
    {
        "model": "resnet50",
        "finetune": True,
        "lr": 0.0008452230941737776,
        "folds": [
            _fold(1, [[1760, 104], [148, 1623]], 0.9307, 0.9309, 0.9307, 0.9306),
            _fold(2, [[1758, 76], [183, 1618]], 0.9287, 0.9302, 0.9287, 0.9287),
            _fold(3, [[1733, 61], [193, 1648]], 0.9301, 0.9325, 0.9301, 0.9301),
        ],
        "average": _avg(0.9298, 0.9312, 0.9298, 0.9298),
        "average_confusion_matrix": [
            [1750.33333333, 80.33333333],
            [174.66666667, 1629.66666667],
        ],
    },
    {
        "model": "mobilenet_v2",
        "finetune": False,
        "lr": 0.007232401612829719,
        "folds": [
            _fold(1, [[1399, 465], [599, 1172]], 0.7073, 0.7079, 0.7073, 0.7066),
            _fold(2, [[1281, 553], [445, 1356]], 0.7254, 0.7264, 0.7254, 0.7253),
            _fold(3, [[751, 1043], [124, 1717]], 0.6790, 0.7387, 0.6790, 0.6557),
        ],
        "average": _avg(0.7039, 0.7243, 0.7039, 0.6959),
        "average_confusion_matrix": [[1143.66666667, 687.0], [389.33333333, 1415.0]],
    },
    {
        "model": "mobilenet_v2",
        "finetune": True,
        "lr": 0.0009289966381913214,
        "folds": [
            _fold(1, [[1744, 120], [307, 1464]], 0.8825, 0.8863, 0.8825, 0.8821),
            _fold(2, [[1618, 216], [238, 1563]], 0.8751, 0.8751, 0.8751, 0.8751),
            _fold(3, [[1703, 91], [288, 1553]], 0.8957, 0.9006, 0.8957, 0.8955),
        ],
        "average": _avg(0.8845, 0.8874, 0.8845, 0.8842),
        "average_confusion_matrix": [
            [1688.33333333, 142.33333333],
            [277.66666667, 1526.66666667],
        ],
    },
    {
        "model": "densenet121",
        "finetune": False,
        "lr": 0.0005446615699330324,
        "folds": [
            _fold(1, [[1618, 246], [843, 928]], 0.7004, 0.7223, 0.7004, 0.6907),
            _fold(2, [[1617, 217], [912, 889]], 0.6894, 0.7208, 0.6894, 0.6770),
            _fold(3, [[1568, 226], [902, 939]], 0.6897, 0.7215, 0.6897, 0.6794),
        ],
        "average": _avg(0.6932, 0.7215, 0.6932, 0.6824),
        "average_confusion_matrix": [[1601.0, 229.66666667], [885.66666667, 918.66666667]],
    },
    {
        "model": "densenet121",
        "finetune": True,
        "lr": 0.0008263872006727257,
        "folds": [
            _fold(1, [[1817, 47], [241, 1530]], 0.9208, 0.9254, 0.9208, 0.9204),
            _fold(2, [[1791, 43], [236, 1565]], 0.9232, 0.9280, 0.9232, 0.9230),
            _fold(3, [[1710, 84], [139, 1702]], 0.9387, 0.9391, 0.9387, 0.9386),
        ],
        "average": _avg(0.9276, 0.9308, 0.9276, 0.9274),
        "average_confusion_matrix": [[1772.66666667, 58.0], [205.33333333, 1599.0]],
    },
    {
        "model": "inception_v3",
        "finetune": False,
        "lr": 0.00015312307074091057,
        "folds": [
            _fold(1, [[1711, 153], [1184, 587]], 0.6322, 0.6895, 0.6322, 0.5965),
            _fold(2, [[1617, 217], [962, 839]], 0.6757, 0.7100, 0.6757, 0.6607),
            _fold(3, [[1624, 170], [1181, 660]], 0.6283, 0.6885, 0.6283, 0.5988),
        ],
        "average": _avg(0.6454, 0.6960, 0.6454, 0.6187),
        "average_confusion_matrix": [[1650.66666667, 180.0], [1109.0, 695.33333333]],
    },
    {
        "model": "inception_v3",
        "finetune": True,
        "lr": 0.0003267594210449535,
        "folds": [
            _fold(1, [[1786, 78], [315, 1456]], 0.8919, 0.8983, 0.8919, 0.8912),
            _fold(2, [[1733, 101], [252, 1549]], 0.9029, 0.9056, 0.9029, 0.9027),
            _fold(3, [[1726, 68], [257, 1584]], 0.9106, 0.9152, 0.9106, 0.9104),
        ],
        "average": _avg(0.9018, 0.9064, 0.9018, 0.9014),
        "average_confusion_matrix": [
            [1748.33333333, 82.33333333],
            [274.66666667, 1529.66666667],
        ],
    },
    {
        # "ResNet-50 with adding one layer" (its average block is headed "ResNet-50 With
        # Fine-Tune" in the study, a copy-paste heading).
        "model": "resnet50_mlp",
        "finetune": True,
        "lr": 0.00021707829167244333,
        "folds": [
            _fold(1, [[1775, 89], [163, 1608]], 0.9307, 0.9313, 0.9307, 0.9306),
            _fold(2, [[1755, 79], [187, 1614]], 0.9268, 0.9283, 0.9268, 0.9267),
            _fold(3, [[1749, 45], [224, 1617]], 0.9260, 0.9303, 0.9260, 0.9259),
        ],
        "average": _avg(0.9278, 0.9300, 0.9278, 0.9277),
        "average_confusion_matrix": [[1759.66666667, 71.0], [191.33333333, 1613.0]],
    },
    {
        "model": "vit_b_16",
        "finetune": True,
        "lr": 0.0005134706023131347,
        "folds": [
            _fold(1, [[1759, 105], [593, 1178]], 0.8080, 0.8308, 0.8080, 0.8037),
            _fold(2, [[1690, 144], [557, 1244]], 0.8072, 0.8235, 0.8072, 0.8044),
            _fold(3, [[1614, 180], [516, 1325]], 0.8085, 0.8199, 0.8085, 0.8071),
        ],
        "average": _avg(0.8079, 0.8247, 0.8079, 0.8051),
        "average_confusion_matrix": [[1687.66666667, 143.0], [555.33333333, 1249.0]],
    },
]


# "Performance For All Models", as printed: model, fine-tuning, best LR (as printed, 9 decimals or
# scientific), accuracy, precision, recall, F1 in percent.
# fmt: off
STUDY_FINAL_TABLE: list[dict] = [
    {"model": "VGG16", "fine_tuning": "Without", "best_lr": 0.000175481,
     "accuracy": 59.43, "precision": 62.44, "recall": 59.43, "f1": 58.10},
    {"model": "VGG16", "fine_tuning": "With", "best_lr": 2.51e-05,
     "accuracy": 92.20, "precision": 92.32, "recall": 92.20, "f1": 92.19},
    {"model": "ResNet-50", "fine_tuning": "Without", "best_lr": 0.000617242,
     "accuracy": 72.26, "precision": 73.15, "recall": 72.26, "f1": 71.98},
    {"model": "ResNet-50", "fine_tuning": "With", "best_lr": 0.000845223,
     "accuracy": 92.98, "precision": 93.12, "recall": 92.98, "f1": 92.98},
    {"model": "MobileNet", "fine_tuning": "Without", "best_lr": 0.007232402,
     "accuracy": 70.39, "precision": 72.43, "recall": 70.39, "f1": 69.59},
    {"model": "MobileNet", "fine_tuning": "With", "best_lr": 0.000928997,
     "accuracy": 88.45, "precision": 88.74, "recall": 88.45, "f1": 88.42},
    {"model": "DenseNet-121", "fine_tuning": "Without", "best_lr": 0.000544662,
     "accuracy": 69.32, "precision": 72.15, "recall": 69.32, "f1": 68.24},
    {"model": "DenseNet-121", "fine_tuning": "With", "best_lr": 0.000826387,
     "accuracy": 92.76, "precision": 93.08, "recall": 92.76, "f1": 92.74},
    {"model": "Inception", "fine_tuning": "Without", "best_lr": 0.000153123,
     "accuracy": 64.54, "precision": 69.60, "recall": 64.54, "f1": 61.87},
    {"model": "Inception", "fine_tuning": "With", "best_lr": 0.000326759,
     "accuracy": 90.18, "precision": 90.64, "recall": 90.18, "f1": 90.14},
    {"model": "ResNet-50 (1 Layer)", "fine_tuning": "With", "best_lr": 0.000217078,
     "accuracy": 92.78, "precision": 93.10, "recall": 92.78, "f1": 92.77},
    {"model": "VIT (Vision Transformer)", "fine_tuning": "With", "best_lr": 0.000513470,
     "accuracy": 80.79, "precision": 82.47, "recall": 80.79, "f1": 80.51},
]
# fmt: on
