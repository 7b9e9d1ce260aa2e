"""Stand-in of backend/nn/clip.py: IntegratedCLIP, whose `.transformer` is a transformers CLIPTextModel (CLIP-G's
with a `text_projection` Linear on it, as add_text_projection=True gives it)."""

import torch


class CLIPTextModel(torch.nn.Module):
    """transformers 4.46's layout (`.text_model.embeddings.token_embedding`, Forge's pin), on any transformers:
    5.x dropped the `.text_model` level, which classic_engine reads."""

    def __init__(self, text_model):
        super().__init__()
        self.text_model = getattr(text_model, "text_model", text_model)

    def forward(self, input_ids=None, output_hidden_states=False):
        return self.text_model(input_ids=input_ids, output_hidden_states=output_hidden_states)


class IntegratedCLIP(torch.nn.Module):
    def __init__(self, text_model, text_projection=None):
        super().__init__()
        self.transformer = CLIPTextModel(text_model)
        self.logit_scale = torch.nn.Parameter(torch.tensor(4.6055))
        if text_projection is not None:
            self.transformer.text_projection = text_projection
