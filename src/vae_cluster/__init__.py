"""vae-cluster: unsupervised clustering of hybrid-language music with Variational Autoencoders."""

__version__ = "0.1.0"


def _register() -> None:
    try:
        from vae_cluster.config import register_schemas
    except ImportError:  # hydra missing: nothing to compose anyway
        return
    register_schemas()  # Hydra schemas (ConfigStore) for anyone composing conf/, not only the CLI


_register()
