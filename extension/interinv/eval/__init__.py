"""Evaluation: metrics, CLIP scoring, pose classifiers, the eval run."""
