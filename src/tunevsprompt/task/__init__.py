"""The task: data loading and sampling, the label set, prompts, and the plain types shared by
data, arms and reports."""
