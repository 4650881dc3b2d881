"""Every metric against an independent computation (sklearn or a brute-force loop)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import f1_score as sk_f1
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from seqcore_train.data.records import ClassTable
from seqcore_train.evaluation.metrics import (
    COVERAGE_STEPS,
    Evaluator,
    coverage_sweep,
    defect_wise_hits,
    flatten,
    instance_coverage,
    roc_auc,
)

CLASSES = ClassTable()  # 1 scratch 2 bump 3 dent (defects) 4 water_stain 5 fingerprint 6 sticker


def random_images(rng, make_sample, n=6, shape=(40, 48)):
    """Random rectangles of every class, some touching, random maps and valid masks."""
    images = []
    for k in range(n):
        semantic = np.zeros(shape, np.uint8)
        instance = np.zeros(shape, np.int32)
        classes = {}
        for inst in range(1, rng.integers(2, 9)):
            cls = int(rng.integers(1, 7))
            y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
            h, w = rng.integers(2, 12), rng.integers(2, 12)
            semantic[y : y + h, x : x + w] = cls
            instance[y : y + h, x : x + w] = inst
            classes[inst] = {
                1: "scratch",
                2: "bump",
                3: "dent",
                4: "water_stain",
                5: "fingerprint",
                6: "sticker",
            }[cls]
        # Two touching instances of the same class: separate instances, one connected region.
        semantic[0:4, 0:6] = 1
        instance[0:4, 0:3], instance[0:4, 3:6] = 20, 21
        classes[20] = classes[21] = "scratch"
        present = set(np.unique(instance).tolist())
        classes = {i: c for i, c in classes.items() if i in present}
        valid = rng.random(shape) > 0.1
        valid[:, -3:] = False
        amap = rng.random(shape).astype(np.float32)
        amap += 0.5 * np.isin(semantic, (1, 2, 3)) * rng.random(shape)
        if k == 0:
            semantic[:] = 0
            instance[:] = 0
            classes = {}
        images.append(
            (make_sample(semantic, instance, classes, valid, f"i{k}"), amap.astype(np.float32))
        )
    return images


def brute_force_defect_wise(images, threshold, k):
    """Per-class R_DW by looping over every instance and every predicted component."""
    total, found = {}, {}
    for sample, amap in images:
        predicted = (amap >= threshold) & sample.valid
        labels, count = ndimage.label(predicted, structure=np.ones((3, 3)))
        for inst, name in sample.instance_classes.items():
            pixels = (sample.instance == inst) & sample.valid
            if not pixels.any():
                continue
            total[name] = total.get(name, 0) + 1
            hit = False
            for comp in range(1, count + 1):
                component = labels == comp
                if component.sum() >= k and (component & pixels).any():
                    hit = True
            found[name] = found.get(name, 0) + hit
    return {name: found[name] / total[name] for name in total}


@pytest.mark.parametrize("min_size", [1, 5])
def test_thresholded_metrics_match_independent_computation(rng, sample_factory, min_size):
    images = random_images(rng, sample_factory)
    threshold = 0.9
    evaluator = Evaluator(CLASSES, threshold, min_component_size=min_size)
    for sample, amap in images:
        evaluator.update(sample, amap)
    report = evaluator.result()

    valid = np.concatenate([s.valid.ravel() for s, _ in images])
    semantic = np.concatenate([s.semantic.ravel() for s, _ in images])[valid]
    scores = np.concatenate([m.ravel() for _, m in images])[valid]
    truth = np.isin(semantic, (1, 2, 3))
    predicted = scores >= threshold
    assert report["pixel"]["precision"] == pytest.approx(
        precision_score(truth, predicted), abs=1e-6
    )
    assert report["pixel"]["recall"] == pytest.approx(recall_score(truth, predicted), abs=1e-6)
    assert report["pixel"]["f1"] == pytest.approx(sk_f1(truth, predicted), abs=1e-6)

    expected_dw = brute_force_defect_wise(images, threshold, min_size)
    for name, entry in report["per_class"].items():
        cls = CLASSES.get(name).id
        in_class = semantic == cls
        if in_class.any():
            assert entry["pixel_recall"] == pytest.approx(predicted[in_class].mean(), abs=1e-6)
        else:
            assert entry["pixel_recall"] is None
        assert entry["defect_wise_recall"] == (
            pytest.approx(expected_dw[name], abs=1e-6) if name in expected_dw else None
        )
    defect_dw = [expected_dw[n] for n in ("scratch", "bump", "dent") if n in expected_dw]
    assert report["mean_defect_wise_recall"] == pytest.approx(np.mean(defect_dw), abs=1e-6)
    # Impurities are counted per class too, and are negatives for precision.
    assert (
        "water_stain" in report["per_class"]
        and report["per_class"]["water_stain"]["kind"] == "impurity"
    )


def test_pixel_and_image_auroc_match_sklearn(rng, sample_factory):
    images = random_images(rng, sample_factory, n=8)
    evaluator = Evaluator(CLASSES, None)
    for sample, amap in images:
        evaluator.update(sample, amap)
    report = evaluator.result()
    valid = np.concatenate([s.valid.ravel() for s, _ in images])
    truth = np.isin(np.concatenate([s.semantic.ravel() for s, _ in images]), (1, 2, 3))[valid]
    scores = np.concatenate([m.ravel() for _, m in images])[valid]
    assert report["pixel"]["auroc"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-4)
    image_truth = [bool((np.isin(s.semantic, (1, 2, 3)) & s.valid).any()) for s, _ in images]
    image_scores = [m[s.valid].max() for s, m in images]
    assert report["image"]["auroc"] == pytest.approx(
        roc_auc_score(image_truth, image_scores), abs=1e-6
    )


def test_exact_roc_auc_with_ties_matches_sklearn(rng):
    scores = rng.integers(0, 5, 300).astype(float)
    labels = rng.random(300) > 0.6
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc(scores, np.zeros(300, bool)) is None


def brute_force_aupro(images, limit=0.3):
    """MVTec AD's recipe: PRO and FPR at every distinct score, trapezoid to FPR `limit`."""
    scores, negatives, regions = [], [], []
    for sample, amap in images:
        positive = np.isin(sample.semantic, (1, 2, 3)) & sample.valid
        labels, count = ndimage.label(positive, structure=np.ones((3, 3)))
        regions += [amap[labels == r] for r in range(1, count + 1)]
        negatives.append(amap[sample.valid & ~positive])
        scores.append(amap[sample.valid])
    negatives = np.concatenate(negatives)
    thresholds = np.unique(np.concatenate(scores))[::-1]
    fprs, pros = [0.0], [0.0]
    for t in thresholds:
        fprs.append((negatives >= t).mean())
        pros.append(np.mean([(r >= t).mean() for r in regions]))
    fprs, pros = np.array(fprs), np.array(pros)
    y_at_limit = np.interp(limit, fprs, pros)
    keep = fprs <= limit
    x, y = np.r_[fprs[keep], limit], np.r_[pros[keep], y_at_limit]
    return np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / limit


def test_aupro_matches_brute_force(rng, sample_factory):
    images = random_images(rng, sample_factory, n=4, shape=(24, 28))
    evaluator = Evaluator(CLASSES, None)
    for sample, amap in images:
        evaluator.update(sample, amap)
    assert evaluator.result()["pixel"]["aupro"] == pytest.approx(
        brute_force_aupro(images), abs=2e-3
    )


def test_defect_wise_touching_instances_and_component_size():
    instance = np.zeros((10, 10), np.int32)
    instance[2:5, 2:4], instance[2:5, 4:6] = 1, 2  # touching instances
    instance[7:9, 7:9] = 3
    predicted = np.zeros((10, 10), bool)
    predicted[3, 5] = True  # one pixel on instance 2 only
    predicted[6:9, 6:9] = True  # 9-pixel component over instance 3
    valid = np.ones((10, 10), bool)
    present, hit = defect_wise_hits(instance, predicted, valid, 1)
    assert present.tolist() == [1, 2, 3] and hit.tolist() == [False, True, True]
    present, hit = defect_wise_hits(instance, predicted, valid, 2)
    assert hit.tolist() == [False, False, True]
    valid[7:9, 7:9] = False  # instance 3 outside the inspected region: not counted
    present, hit = defect_wise_hits(instance, predicted, valid, 1)
    assert present.tolist() == [1, 2]


def test_report_has_stable_dotted_keys(rng, sample_factory, report_keys):
    evaluator = Evaluator(CLASSES, 0.8)
    for sample, amap in random_images(rng, sample_factory, n=3):
        evaluator.update(sample, amap)
    flat = flatten(evaluator.result())
    for key in (
        *report_keys,
        "per_class.scratch.pixel_recall",
        "per_class.sticker.defect_wise_recall",
    ):
        assert key in flat


def test_coverage_sweep_on_hand_made_masks(sample_factory):
    """Appendix C: an instance counts at share c when the prediction covers >= c of it (and
    touches it at all); c = 0 is the usual defect-wise recall."""
    instance = np.zeros((20, 20), np.int32)
    instance[0:2, 0:5] = 1  # 10 px, 3 covered: 30 %
    instance[4:6, 0:2] = 2  # 4 px, all covered: 100 %
    instance[10:14, 0:5] = 3  # 20 px, 1 covered: exactly 5 %
    instance[16:18, 10:12] = 4  # 4 px, untouched
    predicted = np.zeros((20, 20), bool)
    predicted[0, 0:3] = True
    predicted[4:6, 0:2] = True
    predicted[13, 4] = True
    valid = np.ones((20, 20), bool)
    present, sizes, covered = instance_coverage(instance, predicted, valid)
    assert present.tolist() == [1, 2, 3, 4]
    assert sizes.tolist() == [10, 4, 20, 4] and covered.tolist() == [3, 4, 1, 0]
    sweep = dict(zip(COVERAGE_STEPS, coverage_sweep(sizes, covered), strict=True))
    assert sweep[0] == sweep[5] == 0.75  # 1 of 20 pixels is 5 %: still detected
    assert sweep[10] == sweep[30] == 0.5
    assert sweep[35] == sweep[100] == 0.25
    # the component rule applies before coverage: the lone pixel on instance 3 no longer counts
    _present, _sizes, covered = instance_coverage(instance, predicted, valid, min_component_size=2)
    assert covered.tolist() == [3, 4, 0, 0]
    # pixels outside the valid region count neither in the size nor as covered
    valid[0, 0:2] = False
    _present, sizes, covered = instance_coverage(instance, predicted, valid)
    assert sizes[0] == 8 and covered[0] == 1

    semantic = np.where(instance > 0, 1, 0).astype(np.uint8)
    semantic[instance == 4] = 4  # a water stain
    classes = {1: "scratch", 2: "scratch", 3: "scratch", 4: "water_stain"}
    evaluator = Evaluator(CLASSES, 0.5)
    evaluator.update(sample_factory(semantic, instance, classes), predicted.astype(np.float32))
    report = evaluator.result()
    sweep = report["coverage_sweep"]
    assert sweep["min_covered_share"][:5] == [0.0, 0.01, 0.02, 0.03, 0.05]
    assert sweep["min_covered_share"][-1] == 1.0 and len(sweep["min_covered_share"]) == 24
    scratch = dict(zip(COVERAGE_STEPS, sweep["defect_wise_recall"]["scratch"], strict=True))
    assert [scratch[0], scratch[10], scratch[35]] == pytest.approx([1, 2 / 3, 1 / 3], abs=1e-6)
    assert sweep["defect_wise_recall"]["water_stain"] == [0.0] * 24
    images = evaluator.per_image()["images"]
    assert images[0]["instances"] == [["scratch", 10, 3], ["scratch", 4, 4],
                                      ["scratch", 20, 1], ["water_stain", 4, 0]]  # fmt: skip
    assert (images[0]["tp"], images[0]["fp"], images[0]["fn"]) == (8, 0, 26)
    assert images[0]["class_pixels"] == {"scratch": [34, 8], "water_stain": [4, 0]}


@pytest.mark.parametrize("min_size", [1, 3])
def test_sweep_at_zero_and_per_image_counts_add_up_to_the_report(rng, sample_factory, min_size):
    evaluator = Evaluator(CLASSES, 0.7, min_component_size=min_size)
    for sample, amap in random_images(rng, sample_factory, n=5):
        evaluator.update(sample, amap)
    report = evaluator.result()
    for name, curve in report["coverage_sweep"]["defect_wise_recall"].items():
        assert curve[0] == report["per_class"][name]["defect_wise_recall"], name
        assert np.all(np.diff(curve) <= 0), name  # never rises with c
    images = evaluator.per_image()["images"]
    assert sum(i["tp"] for i in images) == report["pixel"]["tp"]
    assert sum(i["fp"] for i in images) == report["pixel"]["fp"]
    assert sum(i["fn"] for i in images) == report["pixel"]["fn"]
    for name, entry in report["per_class"].items():
        rows = [r for i in images for r in i["instances"] if r[0] == name]
        assert len(rows) == entry["instances"]
        pixels = sum(i["class_pixels"].get(name, [0, 0])[0] for i in images)
        assert pixels == entry["pixels"]
