"""SAM's mask losses: sigmoid focal + Dice on the masks, MSE on the predicted IoU.

With several candidate masks per prompt, only the candidate with the lowest mask loss is
supervised (SAM's rule for ambiguous prompts), while the IoU head learns the true IoU of every
candidate. Masks are compared at the model's input resolution (the low-resolution logits are
upsampled bilinearly), as in Meta's training code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["MaskLoss", "dice_per_mask", "focal_per_mask", "mask_iou"]


def focal_per_mask(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean sigmoid focal loss over the pixels of each mask (``... x H x W`` -> ``...``).

    Example:
        >>> t = torch.ones(1, 4, 4)
        >>> bool(focal_per_mask(torch.full((1, 4, 4), 9.0), t) < focal_per_mask(torch.zeros(1, 4, 4), t))
        True
    """
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.flatten(-2).mean(-1)


def dice_per_mask(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss of each mask (``... x H x W`` -> ``...``), as in SAM (smoothing 1).

    Example:
        >>> t = torch.zeros(1, 4, 4); t[0, :2] = 1
        >>> round(float(dice_per_mask(t * 40 - 20, t)), 3)
        0.0
    """
    prob = logits.sigmoid().flatten(-2)
    tgt = target.flatten(-2)
    inter = (prob * tgt).sum(-1)
    return 1 - (2 * inter + eps) / (prob.sum(-1) + tgt.sum(-1) + eps)


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of boolean masks (``... x H x W`` -> ``...``); two empty masks score 1.

    Example:
        >>> a = torch.zeros(1, 4, 4, dtype=torch.bool); a[0, :2] = True
        >>> b = torch.zeros(1, 4, 4, dtype=torch.bool); b[0, :1] = True
        >>> mask_iou(a, b).tolist()
        [0.5]
    """
    inter = (pred & target).flatten(-2).sum(-1).float()
    union = (pred | target).flatten(-2).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


class MaskLoss:
    """Weighted focal, Dice and IoU-prediction losses of one decoding round.

    Args:
        weights: ``{"focal": w, "dice": w, "iou": w}``.

    Example:
        >>> loss = MaskLoss({"focal": 20.0, "dice": 1.0, "iou": 1.0})
        >>> t = torch.zeros(2, 8, 8, dtype=torch.bool); t[:, 2:6, 2:6] = True
        >>> total, parts, best = loss(torch.randn(2, 3, 2, 2), torch.rand(2, 3), t)
        >>> sorted(parts), best.shape
        (['dice', 'focal', 'iou'], torch.Size([2]))
    """

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def __call__(
        self, low_res: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Loss of ``K x M`` candidate logits against ``K`` boolean target masks.

        Returns:
            ``(loss, {term: mean value}, index of the supervised candidate per object)``.
        """
        size = target.shape[-2:]
        logits = F.interpolate(low_res.float(), size, mode="bilinear", align_corners=False)
        tgt = target.unsqueeze(1).float().expand_as(logits)
        focal = focal_per_mask(logits, tgt)
        dice = dice_per_mask(logits, tgt)
        mask_loss = self.weights["focal"] * focal + self.weights["dice"] * dice
        best = mask_loss.argmin(dim=1)
        rows = torch.arange(len(best), device=best.device)
        with torch.no_grad():
            true_iou = mask_iou(logits > 0, target.unsqueeze(1).expand_as(logits))
        iou_loss = F.mse_loss(iou_pred.float(), true_iou, reduction="none").mean(dim=1)
        total = (mask_loss[rows, best] + self.weights["iou"] * iou_loss).mean()
        parts = {
            "focal": float(focal[rows, best].mean().detach()),
            "dice": float(dice[rows, best].mean().detach()),
            "iou": float(iou_loss.mean().detach()),
        }
        return total, parts, best
