"""Where the arms differ (recomputed by `tvp report` from samples.jsonl): each arm's
per-class figures and most confused label pairs, the anchor arm's disagreements with each
rival, figures per slice, calibration and abstention (docs/run-folder.md#explanations)."""

from __future__ import annotations

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Num, Record
from tunevsprompt.runfolder.results.figures import Figure


class ClassFigures(Record):
    """One label's figures for one arm."""

    label: str = Field(description="The label.")
    support: Count = Field(description="Test examples whose target is the label.")
    predicted: Count = Field(description="Test examples the arm answered with the label.")
    correct: Count = Field(description="Test examples of the label the arm got right.")
    precision: Figure = Field(
        description="correct / predicted, Clopper–Pearson (null when never predicted)."
    )
    recall: Figure = Field(
        description="correct / support, Clopper–Pearson (null when the test split lacks it)."
    )
    f1: Figure = Field(
        description="2·correct / (support + predicted) (scikit-learn's, zero_division 0); "
        "interval: the F1 of the 97.5% Clopper–Pearson bounds of precision and recall "
        "(bonferroni-clopper-pearson; null when the test split lacks the label)."
    )


class Confusion(Record):
    """A true label the arm answered with another."""

    target: str = Field(description="The true label.")
    answered: str = Field(description="What the arm answered ('(no label)': nothing parsed).")
    count: Count = Field(description="Test examples.")
    share: Figure = Field(description="count / the true label's support, Clopper–Pearson.")


class Disagreement(Record):
    """The anchor against one rival on the test examples both answered: the paired table."""

    rival: str = Field(description="The other arm.")
    n: Count = Field(description="Examples both answered.")
    both_right: Count = Field(description="Both right.")
    anchor_only: Count = Field(description="Only the anchor right (lost by choosing the rival).")
    rival_only: Count = Field(description="Only the rival right (lost by choosing the anchor).")
    both_wrong: Count = Field(description="Both wrong.")
    anchor_only_ids: list[str] = Field(description="Those examples' ids (the first 100).")
    rival_only_ids: list[str] = Field(description="Those examples' ids (the first 100).")


class ReliabilityBin(Record):
    """One confidence bin of the reliability diagram."""

    bin: list[Num] = Field(description="[low, high] of the confidences it holds (low open).")
    n: Count = Field(description="Answers in it.")
    confidence: Num = Field(description="Their mean confidence.")
    accuracy: Figure = Field(description="Their accuracy, Clopper–Pearson.")


class CoveragePoint(Record):
    """The arm answering only its most confident share of the test examples."""

    coverage: Num = Field(description="Share answered (0.1 … 1.0).")
    answered: Count = Field(description="Examples answered.")
    threshold: Num = Field(description="The lowest confidence still answered.")
    accuracy: Figure = Field(description="Accuracy on those, Clopper–Pearson.")


class Calibration(Record):
    """Whether the arm's confidence (the probability it gave its answer) means anything."""

    n: Count = Field(description="Test examples with a confidence.")
    mean_confidence: Num = Field(description="Mean confidence.")
    accuracy: Num = Field(description="Accuracy on those examples.")
    ece: Figure = Field(
        description="Expected calibration error over `bins` equal-width bins; interval: in "
        "each bin, |accuracy − mean confidence| bounded by the accuracy's Clopper–Pearson "
        "interval (Bonferroni over bins), weighted by the bins' shares "
        "(bonferroni-clopper-pearson; conditional on the confidences)."
    )
    brier: Figure = Field(description="Top-label Brier score mean((confidence − right)²), t.")
    bins: Count = Field(description="Bins of the ECE and the reliability diagram.")
    reliability: list[ReliabilityBin] = Field(description="The non-empty bins.")
    risk_coverage: list[CoveragePoint] = Field(
        description="Accuracy when only the most confident answers are given."
    )
    accuracy_coverage_area: Num = Field(
        description="Mean accuracy over every coverage step (1: right whenever it answers)."
    )


class SliceFigure(Figure):
    """One arm on one slice."""

    n: Count | None = Field(None, description="Test examples in the slice it answered.")


class SliceValue(Record):
    """The test examples sharing one value of the slice field."""

    value: str = Field(description="The value ('(none)': rows without one).")
    n: Count = Field(description="Test examples with it.")
    arms: dict[str, SliceFigure] = Field(description="Each arm's figure on them.")


class SliceField(Record):
    """One field of `slices`."""

    metric: str = Field(
        description="The figure: the headline metric when scored per example, else accuracy."
    )
    values: list[SliceValue] = Field(description="Its values, most examples first (50 at most).")
    other_values: Count = Field(description="Values left out beyond the 50.")


class ShareFigure(Figure):
    """A share with the number of examples it is a share of."""

    n: Count | None = Field(None, description="Examples it is a share of.")


class AbstentionFigures(Record):
    """The test split answered as the arm answered, and abstaining below the threshold."""

    accuracy: ShareFigure = Field(description="Accuracy on every test example.")
    out_of_scope_recall: ShareFigure = Field(
        description="Share of the out-of-scope examples answered with the label."
    )
    in_scope_accuracy: ShareFigure = Field(description="Accuracy on the other examples.")
    answered_out_of_scope: ShareFigure = Field(
        description="Share of all examples answered with the label."
    )


class PairedChange(Record):
    """abstaining − as answered on the same examples, Tango's paired interval."""

    difference: Num | None = Field(None, description="The change.")
    ci95: list[Num] | None = Field(None, description="Its 95% interval [low, high].")
    method: str | None = Field(None, description="tango-score.")
    n: Count | None = Field(None, description="Examples it is over.")


class AbstentionChange(Record):
    """What abstaining changes, on the examples each figure is over."""

    out_of_scope_recall: PairedChange = Field(description="On the out-of-scope examples.")
    in_scope_accuracy: PairedChange = Field(description="On the other examples.")


class Abstention(Record):
    """One arm with and without abstention (Clopper–Pearson intervals)."""

    label: str = Field(description="The out-of-scope label.")
    threshold: Num = Field(description="The dev-chosen confidence threshold.")
    as_answered: AbstentionFigures = Field(description="Without abstention.")
    abstaining: AbstentionFigures = Field(description="Answering the label below it.")
    change: AbstentionChange | None = Field(
        None, description="abstaining − as answered, paired (Tango)."
    )


class Explanations(Record):
    """Per-class figures, confusions, disagreements, slices, calibration and abstention
    (schema 2.0, optional)."""

    anchor: str | None = Field(None, description="The arm the others are held against.")
    anchor_is: str | None = Field(
        None, description="Why: recommended, leading, or highest headline figure."
    )
    labels: list[str] | None = Field(
        None, description="The label order of `matrices` (rows; columns add '(no label)')."
    )
    matrices: dict[str, list[list[Count]]] | None = Field(
        None,
        description="The anchor's and the best arm's confusion matrices: counts by [true "
        "label][answered label], the last column answers that parsed to no label.",
    )
    per_class: dict[str, list[ClassFigures]] = Field(
        description="Per arm: every label the test split holds or the arm answered."
    )
    confusions: dict[str, list[Confusion]] = Field(
        description="Per arm: the 10 most frequent (true, answered) pairs, largest first."
    )
    disagreements: list[Disagreement] = Field(description="The anchor against each rival.")
    slices: dict[str, SliceField] | None = Field(
        None, description="Per field of the suite's `slices`: every arm's figure per value."
    )
    abstention: dict[str, Abstention] | None = Field(
        None, description="Suites with task.abstain_label: per arm with a threshold."
    )
    calibration: dict[str, Calibration] | None = Field(
        None,
        description="Per arm whose answers carry a confidence (rank-scored prompting and "
        "tuned arms: the softmax over the label scores; embed-linear, encoder-finetune, "
        "setfit: the classifier's probability; embed-knn: the winning label's share of the "
        "vote).",
    )
