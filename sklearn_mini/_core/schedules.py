"""Learning rates: the automatic peak rate, and schedules as pure functions of the step."""

import math

# Fractions of the run that define the seed's 'cosine_cycle' schedule.
WARMUP_FRACTION = 0.1
DECAY_START_FRACTION = 0.5
CYCLE_PERIOD_FRACTION = 0.2  # of the decay phase
CYCLE_AMPLITUDE_FRACTION = 0.1  # of (lr - min_lr)
MIN_LR_RATIO = 1e-2

# lr='auto': the peak rate the defaults were measured with, and the widest data they were
# measured on (the shared recordings have 71-125 units, the recovery benchmark fewer).
AUTO_LR = 5e-3
AUTO_LR_WIDTH = 128


def auto_lr(n_features):
    """Peak learning rate used by ``lr='auto'``.

    ``5e-3 * min(1, sqrt(128 / n_features))``: 5e-3 up to 128 units, 2.1e-3 for 739,
    1.8e-3 for 1000. Adam moves every weight by about ``lr`` per step whatever its
    gradient's scale, and the coordinates of a unit-norm atom over ``n`` units are about
    ``1 / sqrt(n)``, so one step turns an atom by about ``lr * sqrt(n)``. The rule keeps
    that turn at what it is at 128 units, the widest data the other defaults were
    measured on; below that width the rate is the measured 5e-3. (At 5e-3 on 739 units
    the atoms kept jumping until the end of a fit, which matched fewer planted patterns
    and needed more epochs; see the user guide's choosing-sizes page.)

    Parameters
    ----------
    n_features : int
        Number of units (inputs of the encoder).

    Returns
    -------
    lr : float
    """
    return AUTO_LR * min(1.0, (AUTO_LR_WIDTH / n_features) ** 0.5)


def constant_lr(step, n_steps, lr):
    """Constant learning rate."""
    return lr


def cosine_cycle_lr(step, n_steps, lr, min_lr_ratio=MIN_LR_RATIO):
    """Warmup, plateau, cosine decay with a superimposed cosine cycle.

    With ``N = n_steps``, ``min_lr = min_lr_ratio * lr``:

    * ``warmup = int(0.1 N)``: for ``step < warmup`` the rate is ``lr * (step + 1) / warmup``;
    * flat at ``lr`` until ``decay_start = int(0.5 N)``;
    * then with ``t = step - decay_start``, ``n_decay = N - decay_start`` and
      ``period = max(1, int(0.2 n_decay))``::

          base  = min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * t / n_decay))
          cycle = 0.1 * (lr - min_lr) * 0.5 * (1 + cos(2 pi (t mod period) / period))
          rate  = base + cycle

    Tiny ``N`` is safe: phases of zero length are skipped and the period is at least 1.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    min_lr = min_lr_ratio * lr
    warmup = int(WARMUP_FRACTION * n_steps)
    decay_start = int(DECAY_START_FRACTION * n_steps)
    if step < warmup:
        return lr * (step + 1) / warmup
    if step < decay_start:
        return lr
    n_decay = n_steps - decay_start
    period = max(1, int(CYCLE_PERIOD_FRACTION * n_decay))
    t = min(step - decay_start, n_decay)
    base = min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t / n_decay))
    phase = (t % period) / period
    cycle = CYCLE_AMPLITUDE_FRACTION * (lr - min_lr) * 0.5 * (1.0 + math.cos(2 * math.pi * phase))
    return base + cycle


def final_decay_lr(step, n_steps, start_lr, lr, min_lr_ratio=MIN_LR_RATIO):
    """Cosine from ``start_lr`` to ``min_lr_ratio * lr`` over ``n_steps`` steps.

    The decay a converged fit runs before it stops (:mod:`.stopping`): at ``step = 0``
    the rate is ``start_lr`` (where the schedule was), at ``step >= n_steps`` it is the
    schedule's minimum ``min_lr_ratio * lr``.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    low = min(start_lr, min_lr_ratio * lr)
    t = min(max(step, 0), n_steps)
    return low + (start_lr - low) * 0.5 * (1.0 + math.cos(math.pi * t / n_steps))


SCHEDULES = {"constant": constant_lr, "cosine_cycle": cosine_cycle_lr}
