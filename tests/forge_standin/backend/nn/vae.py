"""Stand-in of backend/nn/vae.py: IntegratedAutoencoderKL (encode(x, regulation), decode, process_in/out), on a
diffusers AutoencoderKL's encoder and decoder."""

import torch


class DiagonalGaussianDistribution:
    def __init__(self, parameters, deterministic=False):
        self.parameters = parameters
        self.mean, self.logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = torch.clamp(self.logvar, -30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self):
        return self.mean + self.std * torch.randn(self.mean.shape, device=self.parameters.device)


class IntegratedAutoencoderKL(torch.nn.Module):
    def __init__(self, autoencoder, scaling_factor=0.18215, shift_factor=0.0):
        super().__init__()
        self.config = autoencoder.config
        self.encoder, self.quant_conv = autoencoder.encoder, autoencoder.quant_conv
        self.decoder, self.post_quant_conv = autoencoder.decoder, autoencoder.post_quant_conv
        self.scaling_factor, self.shift_factor = scaling_factor, shift_factor

    def encode(self, x, regulation=None):
        posterior = DiagonalGaussianDistribution(self.quant_conv(self.encoder(x)))
        return regulation(posterior) if regulation is not None else posterior.sample()

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))

    def process_in(self, latent):
        return (latent - self.shift_factor) * self.scaling_factor

    def process_out(self, latent):
        return (latent / self.scaling_factor) + self.shift_factor
