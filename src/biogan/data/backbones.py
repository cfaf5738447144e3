"""Cα backbone geometry: distance maps, virtual bonds, angles and torsions, and coordinates from maps.

A fragment is ``L`` consecutive Cα atoms, an array ``(L, 3)`` in Å; a batch is ``(n, L, 3)``. The
virtual bond angle at residue ``i`` is the angle Cα(i-1)-Cα(i)-Cα(i+1); the virtual torsion of residues
``i..i+3`` is the dihedral of the four Cα atoms with the IUPAC sign, so a right-handed α-helix sits near
+50° and a β-strand near -170°. A distance map cannot tell a structure from its mirror image (every
torsion changes sign), so coordinates recovered from a map are given the hand that real proteins have
(:func:`choose_hand`).

Coordinates from a map (:func:`coordinates_from_maps`) are found in two steps: classical
multidimensional scaling (the three leading eigenvectors of the double-centred squared map), which is
exact for a true Euclidean map but spreads any error of the map over every atom, then a refinement by
gradient descent on a stress that weighs near pairs most, with a term holding consecutive atoms 3.8 Å
apart and a term pushing apart atoms closer than :data:`CLASH_DISTANCE`.
"""

from __future__ import annotations

import numpy as np
import torch

BOND = 3.8
"""Distance between consecutive Cα atoms (trans peptide bonds), Å."""
BOND_TOLERANCE = 0.2
CLASH_DISTANCE = 3.5
"""Two Cα atoms at least two residues apart closer than this (Å) clash."""
CONTACT_DISTANCE = 8.0
"""Cα atoms at least :data:`CONTACT_MIN_SEPARATION` residues apart within this distance (Å) touch."""
CONTACT_MIN_SEPARATION = 3
HELIX_TORSIONS = (20.0, 80.0)
"""Virtual torsions (degrees) of a right-handed helix; the mirror image has them negative."""


# ---------------------------------------------------------------------------------------- geometry
def distance_maps(coords: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Pairwise Cα distances ``(n, L, L)`` of fragments ``(n, L, 3)`` (or ``(L, L)`` of one), computed
    ``chunk`` fragments at a time (exact differences, no ``|a|^2 + |b|^2 - 2ab`` shortcut)."""
    x = torch.as_tensor(np.asarray(coords, dtype=np.float32))
    if x.ndim == 2:
        return distance_maps(x[None].numpy(), chunk)[0]
    parts = [
        torch.cdist(x[i : i + chunk], x[i : i + chunk], compute_mode="donot_use_mm_for_euclid_dist")
        for i in range(0, len(x), chunk)
    ]
    length = x.shape[1] if x.ndim == 3 else 0
    return torch.cat(parts).numpy() if parts else np.zeros((0, length, length), np.float32)


def bond_lengths(coords: np.ndarray) -> np.ndarray:
    """Consecutive Cα-Cα distances ``(n, L-1)``."""
    return sequence_separation_distances(coords, 1)


def bond_angles(coords: np.ndarray) -> np.ndarray:
    """Virtual bond angles ``(n, L-2)`` in degrees: the angle at each inner Cα."""
    x = np.asarray(coords, dtype=np.float64)
    a, b = x[..., :-2, :] - x[..., 1:-1, :], x[..., 2:, :] - x[..., 1:-1, :]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def torsion_cos_sin(coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine ``(..., L-3)`` of the virtual torsions of coordinates ``(..., L, 3)`` (IUPAC sign;
    differentiable, for the critic's view of a backbone's hand)."""
    b1 = coords[..., 1:-2, :] - coords[..., :-3, :]
    b2 = coords[..., 2:-1, :] - coords[..., 1:-2, :]
    b3 = coords[..., 3:, :] - coords[..., 2:-1, :]
    n1, n2 = torch.cross(b1, b2, dim=-1), torch.cross(b2, b3, dim=-1)
    y = b2.norm(dim=-1) * (b1 * n2).sum(-1)
    x = (n1 * n2).sum(-1)
    r = torch.sqrt(x**2 + y**2 + 1e-12)
    return x / r, y / r


def torsions(coords: np.ndarray) -> np.ndarray:
    """Virtual torsions ``(n, L-3)`` in degrees (-180, 180], IUPAC sign (right-handed helix > 0)."""
    cos, sin = torsion_cos_sin(torch.as_tensor(np.asarray(coords, dtype=np.float64)))
    return torch.rad2deg(torch.atan2(sin, cos)).numpy()


def radius_of_gyration(coords: np.ndarray) -> np.ndarray:
    """Radius of gyration of each fragment, Å."""
    x = np.asarray(coords, dtype=np.float64)
    centred = x - x.mean(-2, keepdims=True)
    return np.sqrt((centred**2).sum(-1).mean(-1))


def _separation(length: int) -> np.ndarray:
    idx = np.arange(length)
    return np.abs(idx[:, None] - idx[None, :])


def contact_density(maps: np.ndarray) -> np.ndarray:
    """Share of residue pairs at least :data:`CONTACT_MIN_SEPARATION` apart that are in contact."""
    maps = np.asarray(maps)
    far = _separation(maps.shape[-1]) >= CONTACT_MIN_SEPARATION
    return (maps[..., far] < CONTACT_DISTANCE).mean(-1)


def clash_counts(coords: np.ndarray) -> np.ndarray:
    """Pairs of Cα atoms at least two residues apart closer than :data:`CLASH_DISTANCE`, per fragment."""
    maps = distance_maps(coords)
    upper = np.triu(_separation(maps.shape[-1]) >= 2)
    return (maps[..., upper] < CLASH_DISTANCE).sum(-1)


def sequence_separation_distances(coords: np.ndarray, k: int) -> np.ndarray:
    """Distances Cα(i)-Cα(i+k) of every fragment, ``(n, L-k)``."""
    x = np.asarray(coords, dtype=np.float64)
    return np.linalg.norm(x[..., k:, :] - x[..., :-k, :], axis=-1)


def mirror(coords: np.ndarray) -> np.ndarray:
    """The mirror image (x -> -x): same distance map, every torsion of the opposite sign."""
    out = np.array(coords, dtype=np.float32, copy=True)
    out[..., 0] *= -1
    return out


def helix_hand(coords: np.ndarray) -> np.ndarray:
    """Right-handed minus left-handed helical torsions per fragment (< 0: a mirror image)."""
    t = torsions(coords)
    lo, hi = HELIX_TORSIONS
    return ((t > lo) & (t < hi)).sum(-1) - ((t < -lo) & (t > -hi)).sum(-1)


def mirrored_fraction(coords: np.ndarray) -> float:
    """Share of fragments with helical torsions whose left-handed ones outnumber the right-handed."""
    hand = helix_hand(coords)
    t = np.abs(torsions(coords))
    helical = ((t > HELIX_TORSIONS[0]) & (t < HELIX_TORSIONS[1])).sum(-1) > 0
    return float((hand[helical] < 0).mean()) if helical.any() else 0.0


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMSD after optimal superposition (rotation and translation, no reflection) of ``a[i]`` on
    ``b[i]``; ``a`` and ``b`` are ``(n, L, 3)`` (broadcast against each other)."""
    a = torch.as_tensor(np.asarray(a, dtype=np.float64))
    b = torch.as_tensor(np.asarray(b, dtype=np.float64))
    a, b = torch.broadcast_tensors(a, b)
    a = a - a.mean(-2, keepdim=True)
    b = b - b.mean(-2, keepdim=True)
    u, s, vt = torch.linalg.svd(a.transpose(-1, -2) @ b)
    d = torch.sign(torch.linalg.det(u @ vt))  # -1: the best fit is a reflection; take the best rotation
    s = s.clone()
    s[..., -1] = s[..., -1] * d
    msd = ((a**2).sum((-1, -2)) + (b**2).sum((-1, -2)) - 2 * s.sum(-1)) / a.shape[-2]
    return msd.clamp_min(0).sqrt().numpy()


def place_chain(angles: torch.Tensor, torsions: torch.Tensor, bond: float = BOND) -> torch.Tensor:
    """Cα coordinates ``(B, L, 3)`` of chains with consecutive atoms ``bond`` Å apart, bond angle
    ``angles[:, i]`` (radians) at atom ``i + 1`` and torsion ``torsions[:, i]`` (radians, IUPAC sign) of
    atoms ``i .. i+3``; ``angles`` is ``(B, L-2)``, ``torsions`` ``(B, L-3)``. The chain starts at the
    origin along x, its first angle in the xy plane.

    Each atom's frame (the direction of its bond, the normal of the last two bonds) is the previous
    frame turned by a rotation that depends only on that residue's angle and torsion (as in NeRF), so the
    frames are prefix products of those rotations, computed in ``log2 L`` batched matrix products.
    """
    tau = torch.cat([torch.zeros_like(angles[:, :1]), torsions], 1)  # the first bond has no torsion
    u = torch.stack(
        [-torch.cos(angles), torch.sin(angles) * torch.cos(tau), torch.sin(angles) * torch.sin(tau)], -1
    )  # the new bond's direction in the previous frame (bond, in-plane normal, plane normal)
    e1 = torch.zeros_like(u)
    e1[..., 0] = 1.0
    normal = torch.nn.functional.normalize(torch.cross(e1, u, dim=-1), dim=-1)
    frames = torch.stack([u, torch.cross(normal, u, dim=-1), normal], -1)  # rotations, as columns
    n, shift = frames.shape[1], 1
    eye = torch.eye(3, dtype=frames.dtype, device=frames.device).expand(len(frames), 1, 3, 3)
    while shift < n:  # Hillis-Steele scan: frames[i] <- frames[i - shift] @ frames[i]
        frames = torch.cat([eye.expand(-1, shift, -1, -1), frames[:, :-shift]], 1) @ frames
        shift *= 2
    bonds = torch.cat([e1[:, :1], frames[..., 0]], 1) * bond
    return torch.cat([torch.zeros_like(bonds[:, :1]), bonds.cumsum(1)], 1)


# ---------------------------------------------------------------------------------------- features
FEATURE_SEPARATIONS = (1, 2, 3, 4, 5, 6, 8, 12)


def fragment_features(coords: np.ndarray) -> np.ndarray:
    """A fixed-length description of each fragment for two-sample tests: mean and spread of the Cα(i)-
    Cα(i+k) distances at several separations, bond-angle and torsion statistics (helix and strand
    shares), size and compactness."""
    coords = np.asarray(coords, dtype=np.float64)
    length = coords.shape[-2]
    columns = []
    for k in FEATURE_SEPARATIONS:
        if k < length:
            d = sequence_separation_distances(coords, k)
            columns += [d.mean(-1), d.std(-1)]
    angle, torsion = bond_angles(coords), torsions(coords)
    helix = (torsion > HELIX_TORSIONS[0]) & (torsion < HELIX_TORSIONS[1])
    strand = np.abs(torsion) > 150
    maps = distance_maps(coords)
    columns += [
        angle.mean(-1),
        angle.std(-1),
        np.cos(np.radians(torsion)).mean(-1),
        np.sin(np.radians(torsion)).mean(-1),
        helix.mean(-1),
        strand.mean(-1),
        radius_of_gyration(coords),
        contact_density(maps),
        maps.max((-1, -2)),
    ]
    return np.stack(columns, axis=-1).astype(np.float32)


def angle_torsion_histogram(coords: np.ndarray, bins: tuple[int, int] = (18, 36)) -> np.ndarray:
    """Joint histogram (probabilities) of (bond angle at i+1, torsion i..i+3), angles 0-180° and
    torsions -180-180°: the Cα analogue of a Ramachandran plot."""
    angle, torsion = bond_angles(coords)[..., :-1], torsions(coords)
    hist, _, _ = np.histogram2d(
        angle.ravel(), torsion.ravel(), bins=bins, range=[[0.0, 180.0], [-180.0, 180.0]]
    )
    return hist / max(hist.sum(), 1.0)


# ---------------------------------------------------------------------------------------- from maps
def classical_mds(maps: np.ndarray | torch.Tensor, dim: int = 3) -> torch.Tensor:
    """Coordinates ``(n, L, dim)`` whose distances best match ``maps`` ``(n, L, L)`` in the
    least-squares sense of the double-centred squared distances (Torgerson's classical scaling)."""
    d = torch.as_tensor(maps, dtype=torch.float64)
    length = d.shape[-1]
    centre = torch.eye(length, dtype=d.dtype) - 1.0 / length
    gram = -0.5 * centre @ (d**2) @ centre
    values, vectors = torch.linalg.eigh((gram + gram.transpose(-1, -2)) / 2)
    top = values[..., -dim:].clamp_min(0).sqrt()
    return (vectors[..., -dim:] * top[..., None, :]).flip(-1)


def refine_coordinates(
    coords: torch.Tensor,
    maps: torch.Tensor,
    steps: int = 300,
    lr: float = 0.05,
    bond_weight: float = 10.0,
    clash_weight: float = 15.0,
    local: int = 8,
    bonds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gradient descent from ``coords`` on a stress against ``maps``: squared distance errors weighted by
    ``1 / d^2`` (Sammon-like: near pairs, which fix the local geometry, count most) and more within
    ``local`` residues, plus ``bond_weight`` times the squared deviation of consecutive distances from
    ``bonds`` (``(n, L-1)`` in Å; default :data:`BOND` everywhere) and ``clash_weight`` times the squared
    overlap of atoms closer than :data:`CLASH_DISTANCE` + 0.5 Å (a margin, so refined atoms end clear of a
    clash; 15 removed nearly all clashes of generated 64-residue maps, 10 left 0.1 per fragment)."""
    target = torch.as_tensor(maps, dtype=torch.float32)
    bond_target = BOND if bonds is None else torch.as_tensor(bonds, dtype=torch.float32)
    x = torch.as_tensor(coords, dtype=torch.float32).clone().requires_grad_(True)
    length = target.shape[-1]
    sep = torch.as_tensor(_separation(length))
    weight = (1.0 / target.clamp_min(1.0) ** 2) * (1.0 + 4.0 * ((sep > 0) & (sep <= local)).float())
    weight = weight * (sep > 0).float()
    weight = weight / weight.sum((-1, -2), keepdim=True)
    nonbonded = (sep >= 2).float()
    optimizer = torch.optim.Adam([x], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            diff = x[..., :, None, :] - x[..., None, :, :]
            dist = (diff.pow(2).sum(-1) + 1e-8).sqrt()
            stress = (weight * (dist - target) ** 2).sum((-1, -2))
            bond_error = (dist.diagonal(1, -2, -1) - bond_target).pow(2).mean(-1)
            clash = (torch.relu(CLASH_DISTANCE + 0.5 - dist) * nonbonded).pow(2).sum((-1, -2)) / length
            loss = (stress + bond_weight * bond_error + clash_weight * clash).sum()
            loss.backward()
            optimizer.step()
    return x.detach()


def choose_hand(coords: np.ndarray, log_density: np.ndarray | None = None) -> np.ndarray:
    """Each fragment or its mirror image, whichever looks like a real protein: the one with more
    right-handed than left-handed helical torsions (real α-helices are right-handed); where the two tie
    (no helix), the one whose (angle, torsion) pairs are more likely under ``log_density`` (log
    probabilities of :func:`angle_torsion_histogram`'s bins, learnt from real fragments). The likelihood
    alone let 6 % of generated 64-residue fragments keep more left- than right-handed helical torsions,
    against 1 % of real ones."""
    coords = np.asarray(coords, dtype=np.float32)
    flipped = mirror(coords)
    hand = helix_hand(coords)  # the mirror's is -hand
    keep = hand >= 0
    if log_density is not None:
        likelier = _log_likelihood(coords, log_density) >= _log_likelihood(flipped, log_density)
        keep = np.where(hand == 0, likelier, hand > 0)
    return np.where(keep[:, None, None], coords, flipped)


def _log_likelihood(coords: np.ndarray, log_density: np.ndarray) -> np.ndarray:
    n_angle, n_torsion = log_density.shape
    angle, torsion = bond_angles(coords)[..., :-1], torsions(coords)
    i = np.clip((angle / 180.0 * n_angle).astype(int), 0, n_angle - 1)
    j = np.clip(((torsion + 180.0) / 360.0 * n_torsion).astype(int), 0, n_torsion - 1)
    return log_density[i, j].sum(-1)


def coordinates_from_maps(
    maps: np.ndarray,
    log_density: np.ndarray | None = None,
    refine_steps: int = 300,
    batch_size: int = 512,
    bonds: np.ndarray | None = None,
) -> np.ndarray:
    """Cα coordinates ``(n, L, 3)`` for distance maps ``(n, L, L)``: the consecutive distances set to
    ``bonds`` (``(n, L-1)`` in Å, default :data:`BOND`), classical MDS, refinement
    (:func:`refine_coordinates`) toward the same bonds, then the real-protein hand (:func:`choose_hand`).
    Fragments are centred at the origin.

    A generator's maps carry no information at separation 1 (the critic cannot tell 3.8 Å apart from
    anything else there, see :class:`~biogan.nn.structures.MapStandardiser`; generated 64-residue maps
    had 4.4 Å), so those entries are replaced rather than fitted."""
    maps = np.array(maps, dtype=np.float32, copy=True)
    n, length = maps.shape[:2]
    bonds = (
        np.full((n, max(length - 1, 0)), BOND, np.float32) if bonds is None else np.asarray(bonds, np.float32)
    )
    i = np.arange(length - 1)
    maps[:, i, i + 1] = maps[:, i + 1, i] = bonds
    out = []
    for start in range(0, n, batch_size):
        chunk = torch.from_numpy(maps[start : start + batch_size])
        x = classical_mds(chunk).float()
        if refine_steps:
            x = refine_coordinates(
                x, chunk, steps=refine_steps, bonds=torch.from_numpy(bonds[start : start + batch_size])
            )
        out.append(x.numpy())
    coords = np.concatenate(out) if out else np.zeros((0, *maps.shape[1:2], 3), np.float32)
    coords = choose_hand(coords, log_density)
    return (coords - coords.mean(-2, keepdims=True)).astype(np.float32)


__all__ = [
    "BOND",
    "BOND_TOLERANCE",
    "CLASH_DISTANCE",
    "CONTACT_DISTANCE",
    "angle_torsion_histogram",
    "bond_angles",
    "bond_lengths",
    "choose_hand",
    "clash_counts",
    "classical_mds",
    "contact_density",
    "coordinates_from_maps",
    "distance_maps",
    "fragment_features",
    "helix_hand",
    "kabsch_rmsd",
    "mirror",
    "mirrored_fraction",
    "place_chain",
    "radius_of_gyration",
    "refine_coordinates",
    "sequence_separation_distances",
    "torsion_cos_sin",
    "torsions",
]
