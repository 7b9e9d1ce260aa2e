"""Data on disk and its preparation: exemplars, poses, masks, stage-1 synthesis, the cache."""
