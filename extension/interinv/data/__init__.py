"""Data on disk and its preparation: exemplars, poses, masks, stage-1 synthesis, contact sheets, the cache."""
