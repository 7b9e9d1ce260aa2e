"""Pure math, torch only: priors, noise, attention probe and L_CA, trainable tokens."""
