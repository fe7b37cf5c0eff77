"""The data's principal plane: a 2D slice of an image energy for the studio's image mode.

PCA of the training data is computed once per run; the slice E(mean + u*pc1 + v*pc2) is
evaluated on a small grid spanning a few standard deviations along each axis. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PLANE_RES = 32  # grid points per axis: 1024 energy evaluations per slice
PLANE_SPAN = 3.0  # the grid reaches this many standard deviations along each component


@dataclass(frozen=True)
class PrincipalPlane:
    """The data's mean and first two principal directions (flattened), and the grid's
    half-widths along them."""

    mean: torch.Tensor  # (d,)
    pcs: torch.Tensor  # (2, d), orthonormal rows
    extent: tuple[float, float]  # half-width of the grid along pc1, pc2
    event_shape: tuple[int, ...]

    def project(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """(n, 2) coordinates of ``x`` (n, *event_shape) on the plane."""
        x = torch.as_tensor(x).reshape(len(x), -1).double()
        return ((x - self.mean) @ self.pcs.T).numpy()


def principal_plane(data: torch.Tensor) -> PrincipalPlane:
    """PCA of ``data`` (n, *event_shape) by SVD of the centred, flattened data."""
    if len(data) < 3:
        raise ValueError(f"the principal plane needs at least 3 data points, not {len(data)}")
    x = data.detach().cpu().reshape(len(data), -1).double()
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    std = s[:2] / max(len(x) - 1, 1) ** 0.5
    extent = (float(PLANE_SPAN * std[0]), float(PLANE_SPAN * max(std[1], 1e-6)))
    return PrincipalPlane(mean, vt[:2].contiguous(), extent, tuple(data.shape[1:]))


@torch.no_grad()
def plane_energy(model: torch.nn.Module, plane: PrincipalPlane, res: int = PLANE_RES) -> np.ndarray:
    """E on a ``res`` x ``res`` grid of the plane, rows = v (pc2) from -extent to +extent."""
    u = torch.linspace(-plane.extent[0], plane.extent[0], res, dtype=torch.float64)
    v = torch.linspace(-plane.extent[1], plane.extent[1], res, dtype=torch.float64)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pts = plane.mean + uu.reshape(-1, 1) * plane.pcs[0] + vv.reshape(-1, 1) * plane.pcs[1]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = pts.reshape(-1, *plane.event_shape).float().to(device)
    return model(x).double().cpu().reshape(res, res).numpy()


__all__ = ["PLANE_RES", "PLANE_SPAN", "PrincipalPlane", "plane_energy", "principal_plane"]
