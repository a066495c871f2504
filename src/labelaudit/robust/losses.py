"""Per-sample losses on logits and soft targets, plus label smoothing and MixUp (torch).

Every loss takes ``logits`` (rows x classes) and ``targets`` (rows x classes, each row sums to 1:
one-hot, smoothed or mixed) and returns one value per row, so that co-teaching can rank rows by loss.

- cross entropy: ``-sum_k t_k log p_k``
- Generalized Cross Entropy (Zhang & Sabuncu, 2018): ``sum_k t_k (1 - p_k^q) / q``; q -> 0 gives CE,
  q = 1 gives MAE (robust, slow to fit); q = 0.7 is the paper's default.
- Symmetric Cross Entropy (Wang et al., 2019): ``alpha * CE + beta * RCE`` with the reverse CE
  ``RCE = -sum_k p_k log t_k``, ``log 0`` clamped to ``log 1e-4`` as in the authors' code.
- label smoothing: targets ``(1 - eps) * onehot + eps / K``
- MixUp (Zhang et al., 2018): inputs ``lam * x_i + (1 - lam) * x_j`` and loss
  ``lam * L(f(x~), t_i) + (1 - lam) * L(f(x~), t_j)``, ``lam ~ Beta(a, a)``
"""

from __future__ import annotations

from enum import Enum

from labelaudit.extras import require_torch

torch = require_torch()
F = torch.nn.functional

RCE_CLAMP = 1e-4


class LossName(str, Enum):
    ce = "ce"
    gce = "gce"
    sce = "sce"


def smooth_targets(y, n_classes: int, smoothing: float = 0.0):
    """One-hot targets for integer labels ``y``, smoothed towards uniform by ``smoothing``."""
    t = F.one_hot(y.long(), n_classes).to(torch.float32)
    if smoothing:
        t = t * (1.0 - smoothing) + smoothing / n_classes
    return t


def cross_entropy(logits, targets):
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)


def generalized_cross_entropy(logits, targets, q: float = 0.7):
    p = F.softmax(logits, dim=1).clamp_min(1e-7)
    return (targets * (1.0 - p.pow(q)) / q).sum(dim=1)


def reverse_cross_entropy(logits, targets):
    p = F.softmax(logits, dim=1).clamp_min(1e-7)
    return -(p * torch.log(targets.clamp(RCE_CLAMP, 1.0))).sum(dim=1)


def symmetric_cross_entropy(logits, targets, alpha: float = 0.1, beta: float = 1.0):
    return alpha * cross_entropy(logits, targets) + beta * reverse_cross_entropy(logits, targets)


def per_sample_loss(name: LossName | str, logits, targets, *, q: float = 0.7, alpha: float = 0.1, beta: float = 1.0):
    name = LossName(name)
    if name is LossName.ce:
        return cross_entropy(logits, targets)
    if name is LossName.gce:
        return generalized_cross_entropy(logits, targets, q)
    return symmetric_cross_entropy(logits, targets, alpha, beta)


def mixup_inputs(x, lam: float, perm):
    """``lam * x + (1 - lam) * x[perm]``."""
    return lam * x + (1.0 - lam) * x[perm]


def mixup_loss(loss_fn, logits, targets, lam: float, perm):
    """MixUp's loss for mixed inputs: ``lam * L(logits, t) + (1 - lam) * L(logits, t[perm])`` per row."""
    return lam * loss_fn(logits, targets) + (1.0 - lam) * loss_fn(logits, targets[perm])
