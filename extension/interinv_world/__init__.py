"""The interaction world: a small rendered world in which inversion quality can be measured."""
