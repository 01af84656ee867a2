"""VAE zoo: one file per model, all subclasses of base.BaseVAE."""
