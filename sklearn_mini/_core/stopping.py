"""When a fit is done: the convergence rule on a per-epoch curve, and what follows it.

A fit is *converged* when the monitored curve (the training loss, or the held-out score
with ``early_stopping``) has not improved on its best value by more than ``tol`` for
``n_iter_no_change`` consecutive epochs, counting only epochs after the warm-up (the
learning rate and the sparsity coefficient still ramp up there, and the loss of those
epochs says nothing about convergence). For the training loss the improvement is
relative (``tol`` times the best loss: losses have the data's scale); for the held-out
explained variance it is absolute, as for scikit-learn's MLP.

The curve alone is not enough for features. On the demo's simulation the loss sat on a
plateau for 20 epochs (the loss rule fired at epoch 30 with 81% of the planted features
recovered) while latents still jumped from one pattern to another now and then (an atom
turning by more than ``ATOM_TURN_TOL`` in an epoch, a dead latent revived by the aux
loss), and each jump recovered more (97% by epoch 65). So the rule also asks that no atom
turned by more than ``ATOM_TURN_TOL`` (``1 - cosine`` with itself an epoch earlier) in
those ``n_iter_no_change`` epochs: quiet drift there was 1e-3 to 6e-3, jumps 1e-2 to 1e-1.

MatryoshkaSAE's renumbering of latents by frequency (the first half of its fit) moves
atoms between positions, which counts as turning: the rule does not fire while it runs.

A converged fit does not stop at once at its plateau learning rate: it enters a final
decay of ``DECAY_FRACTION`` of the epochs done so far (at least one), cosine from the
rate it had to the schedule's minimum, and stops at its end. Stopping at the plateau
would return the noisier model of a large learning rate; the decay is also why the rule
may fire inside the schedule's own cycles without harm.
"""

import math

# Length of the final decay, as a fraction of the epochs before it.
DECAY_FRACTION = 0.2
# Largest turn of any atom in an epoch (1 - cosine) that still counts as settled.
ATOM_TURN_TOL = 1e-2


def warmup_epochs(n_epochs, warmup_fraction):
    """Epochs the rule ignores: the first ``warmup_fraction`` of the planned ones."""
    return math.ceil(warmup_fraction * n_epochs)


def epochs_since_improvement(values, tol, *, higher_is_better=False, relative=True):
    """Epochs since the last one that beat the best earlier value by more than ``tol``.

    The first value always counts as an improvement. ``relative`` scales ``tol`` by the
    magnitude of the best value.
    """
    best, since = None, 0
    for value in values:
        value = -value if higher_is_better else value
        margin = tol * abs(best) if (relative and best is not None) else tol
        if best is None or value < best - margin:
            best, since = value, 0
        else:
            since += 1
    return since


def converged(values, tol, n_iter_no_change, *, start=0, higher_is_better=False,
              relative=True, atom_turns=None):
    """Whether ``values[start:]`` went ``n_iter_no_change`` epochs without improving.

    With ``atom_turns`` (the largest atom turn of every epoch, aligned with ``values``),
    also none of those epochs may have turned an atom by ``ATOM_TURN_TOL`` or more.
    """
    if n_iter_no_change is None or len(values) - start < n_iter_no_change:
        return False
    if atom_turns is not None and max(atom_turns[-n_iter_no_change:]) >= ATOM_TURN_TOL:
        return False
    return epochs_since_improvement(values[start:], tol, higher_is_better=higher_is_better,
                                    relative=relative) >= n_iter_no_change


def largest_turn(before, after):
    """Largest ``1 - cosine`` between the rows of two dictionaries (zero rows: no turn)."""
    norms = before.norm(dim=1) * after.norm(dim=1)
    cosine = (before * after).sum(dim=1) / norms.clamp_min(1e-30)
    cosine = cosine.where(norms > 0, cosine.new_ones(()))
    return float((1.0 - cosine).max()) if cosine.numel() else 0.0


def decay_epochs(epochs_done):
    """Length of the final decay that starts after ``epochs_done`` epochs."""
    return max(1, math.ceil(DECAY_FRACTION * epochs_done))
