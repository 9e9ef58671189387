"""Where the arms differ, not only which wins: per-class precision, recall and F1 with
intervals (``per_class``), the label pairs each arm confuses (``confusions``), the test
examples the recommended arm gets right and a rival wrong, or the reverse
(``disagreements``), each arm's quality per slice of the data (``slices``), whether its
confidence means anything (``calibration``), and what abstaining below a dev-chosen
confidence changes (``abstention``). ``assemble`` builds results.json's ``explanations``
from samples.jsonl."""
