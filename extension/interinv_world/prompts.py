"""The world's stage-1 prompt bank: the world knows subject words only, in the phrasings of its own captions."""

from interinv.data.synth import PromptBank

WORLD_BANK = PromptBank(templates=("a {subject}", "a photo of a {subject}", "a picture of a {subject}"))
