"""Divergence: the last good state of a fit, the checks that judge a loss, the roll-back.

At every sync point of the loop the mean loss of the steps since the last one must be
finite and at most ``DIVERGENCE_FACTOR`` times the loss of the fit's first batch, and the
parameters finite. Otherwise the module goes back to the last good sync point, the
optimiser's moments (which hold the blow-up) are cleared and the learning rate is
multiplied by ``LR_BACKOFF``, at most ``MAX_RETRIES`` times.
"""

import math
import warnings
from collections import defaultdict

import torch

from ..exceptions import DivergenceError, DivergenceWarning

DIVERGENCE_FACTOR = 20.0
LR_BACKOFF = 0.1
MAX_RETRIES = 4


class DivergenceGuard:
    """Watches the losses of a :class:`~.training.Trainer` and rolls its module back.

    ``lr_scale`` (the factor the roll-backs left on the learning rate) and
    ``reference_loss`` (the first batch's loss) continue a previous fit's.
    """

    def __init__(self, module, optimizer, base_lr, loss_name, lr_scale=1.0,
                 reference_loss=None):
        self.module, self.optimizer = module, optimizer
        self.base_lr, self.loss_name = base_lr, loss_name
        self.lr_scale, self.reference_loss = lr_scale, reference_loss
        self.retries = 0
        self._good = None  # the module's tensors at the last good sync point
        self.good_step = 0
        self.good_mean = 0.0  # mean loss of the interval that last passed the check
        device = next(module.parameters()).device
        self._interval_loss = torch.zeros((), dtype=torch.float64, device=device)
        self.interval_steps = 0

    def set_reference(self, value, x):
        """The first batch's loss ``value`` on batch ``x``: the yardstick of the checks."""
        if not math.isfinite(value):
            raise DivergenceError(
                f"The training loss is {value} on the first batch, before any update: the "
                f"input (largest value {float(x.abs().max()):.4g}) overflows {x.dtype} in "
                f"loss={self.loss_name!r}. Normalise the counts (e.g. SpikeBinner's "
                "normalize='max'), use dtype='float64', or a count loss ('msle', 'poisson')."
            )
        self.reference_loss = value

    def record(self, loss):
        """Add one step's (detached) loss to the interval; no host synchronisation."""
        self._interval_loss += loss.double()
        self.interval_steps += 1

    def snapshot(self, step):
        """Remember the module's current tensors as the good state of ``step``."""
        with torch.no_grad():
            tensors = list(self.module.state_dict().values())
            if self._good is None:
                self._good = [t.clone() for t in tensors]
            else:
                for good, live in zip(self._good, tensors):
                    good.copy_(live)
        self.good_step = step

    def resize(self, step):
        """Take the module's current tensors as good after their shapes changed (pruning)."""
        self._good = None
        self.snapshot(step)

    def check(self, step):
        """At a sync point: keep the state as good, or roll back to the last good one."""
        steps = self.interval_steps
        mean = float(self._interval_loss) / max(1, steps)
        self._interval_loss.zero_()
        self.interval_steps = 0
        if not self.diverged(mean):
            self.snapshot(step)
            self.good_mean = mean
            return
        self._roll_back(mean, steps, step)

    def diverged(self, loss, floor=0.0):
        """Whether ``loss`` or the parameters show divergence: a non-finite loss or
        parameter, or a loss above DIVERGENCE_FACTOR times the larger of the first
        batch's loss and ``floor`` (no bound when both are 0)."""
        limit = DIVERGENCE_FACTOR * max(abs(self.reference_loss or 0.0), floor)
        return (not math.isfinite(loss) or (limit > 0 and loss > limit)
                or not self._params_finite())

    def _params_finite(self):
        sums = torch.stack([p.detach().sum() for p in self.module.parameters()])
        return bool(torch.isfinite(sums).all())

    def _roll_back(self, mean, steps, step):
        with torch.no_grad():
            for good, live in zip(self._good, self.module.state_dict().values()):
                live.copy_(good)
        self.optimizer.state = defaultdict(dict)
        self.retries += 1
        if self.retries > MAX_RETRIES:
            raise DivergenceError(
                f"Training diverged {self.retries} times (mean loss {mean:.4g} over the last "
                f"{steps} steps against {self.reference_loss:.4g} at the start), the "
                f"last time at learning rate {self.base_lr * self.lr_scale:.3g}. Lower `lr` "
                "or check the scale of the input (e.g. normalise the counts)."
            )
        self.lr_scale *= LR_BACKOFF
        warnings.warn(
            f"Training diverged at step {step} (mean loss {mean:.4g} over the last "
            f"{steps} steps, {self.reference_loss:.4g} at the start): rolled back to "
            f"step {self.good_step} and continuing with learning rate "
            f"{self.base_lr * self.lr_scale:.3g} (retry {self.retries} of {MAX_RETRIES}).",
            DivergenceWarning, stacklevel=2,
        )

    def check_final(self, loss, start_step):
        """Refuse to return a model that never recovered from a divergence.

        Two cases: every update since ``start_step`` was rolled back (the model is its
        initialisation), or the last updates, which no sync point judged since they came
        after the last loss it saw, blew up: ``loss`` (of the data's first rows under
        the final parameters) is not finite, or more than DIVERGENCE_FACTOR times both
        the first batch's loss and the last interval that passed a check. The latter
        keeps a fit whose first loss was at rounding level (data the offset alone fits)
        from being called diverged for a loss that only drifted up from there.
        """
        if self.retries and self.good_step <= start_step:
            raise DivergenceError(
                f"Training diverged {self.retries} times and no update was kept: the model "
                f"is still its initialisation (last learning rate "
                f"{self.base_lr * self.lr_scale:.3g}). Lower `lr` or normalise the counts."
            )
        if self.diverged(loss, floor=self.good_mean):
            raise DivergenceError(
                f"Training ended diverged: the final model's loss on the first rows is "
                f"{loss:.4g} against {self.reference_loss:.4g} at the start. Lower `lr` or "
                "normalise the counts."
            )
