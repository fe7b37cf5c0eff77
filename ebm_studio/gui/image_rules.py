"""Which runs are image runs, and what the studio refuses for 2D data. No Qt (the controller
imports it without the image views)."""

from __future__ import annotations

from ..core.config import IMAGE_DATASETS, Config


def is_image_config(config: Config) -> bool:
    """Whether ``config``'s data are images (the studio's image mode)."""
    return config.data.name in IMAGE_DATASETS


def conv_refusal(config: Config, key: str, value: object) -> str | None:
    """One sentence refusing ``model.arch = conv`` on 2D data, else None."""
    if key == "model.arch" and value == "conv" and not is_image_config(config):
        return (
            f"model.arch = conv needs image data (one of {', '.join(IMAGE_DATASETS)}); "
            f"the dataset {config.data.name!r} is 2D points, so the model stays 'mlp'"
        )
    return None


__all__ = ["conv_refusal", "is_image_config"]
