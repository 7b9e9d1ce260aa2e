"""Stand-in of Forge's modules/sd_hijack.py: a stub whose hijack does nothing, with no `embedding_db`."""


class StableDiffusionModelHijack:
    fixes = None
    layers = None
    circular_enabled = False
    clip = None
    optimization_method = None
    extra_generation_params = {}

    def apply_optimizations(self, option=None):
        pass

    def hijack(self, m):
        pass

    def undo_hijack(self, m):
        pass


model_hijack = StableDiffusionModelHijack()
