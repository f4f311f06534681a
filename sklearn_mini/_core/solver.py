"""One fit of a sparse autoencoder on plain values, the estimator's private solver.

:func:`solve` is what ``_BaseSAE.fit`` reduces to once the parameters are a
:class:`~.train_state.TrainConfig` and the data are device rows: train under the chosen
CPU threads and the stop signals, checkpoint on a stop, calibrate the thresholds and
count the firing. :func:`epoch_monitor` is the convergence rule's end-of-epoch callback,
and :func:`level_statistics` the fitted statistics of every level. Nothing here sees
the estimator: it can be called, tested and profiled on tensors alone.
"""

from dataclasses import dataclass

import numpy as np
import torch

from . import stopping
from .inference import calibrate_thresholds, firing_counts
from .interrupt import stop_signals
from .schedules import WARMUP_FRACTION
from .training import Trainer


@dataclass
class FitResult:
    """What :func:`solve` returns: the trained module and how the fit went."""

    module: object
    position: object  # the loop's final Position: curves, epochs done, decay
    state: object  # TrainState for a later partial_fit
    statistics: dict  # level_statistics of the trained module
    steps: int  # optimiser steps taken, over the module's whole life
    stopped_by: str | None  # 'SIGINT' / 'SIGTERM' when a signal ended the fit early


def solve(module, data, config, generator, device, *, n_epochs, state, position, threads,
          reset=True, schedule=None, monitor=None, checkpoints=None, inference_block=8192):
    """Train ``module`` on the rows ``data`` and return a :class:`FitResult`.

    ``reset`` marks a fit from scratch (sparsity warm-up, renumbering of nested latents);
    ``partial_fit`` passes ``False``. ``threads`` is the context manager that sets the
    CPU threads (:mod:`.threads`); ``monitor`` an :func:`epoch_monitor`; ``checkpoints``
    an object with ``on_epoch_end(trainer)`` (the epoch hook) and ``save(trainer,
    position)``. ``inference_block`` rows are coded at a time after training.
    """
    trainer = Trainer(module, config, generator, device, state)
    save = checkpoints.on_epoch_end(trainer) if checkpoints is not None else None
    with threads:
        with stop_signals() as stop:
            position = trainer.run(data, n_epochs, schedule=schedule, sparsity_warmup=reset,
                                   position=position, stop=stop, on_epoch_end=save,
                                   reorder=reset, monitor=monitor)
        if stop and checkpoints is not None:
            checkpoints.save(trainer, position)
        trainer.finish_pruning(data)  # a stop before the last stage: a usable model
        module.eval()
        counts = calibrate_thresholds(module, data, config.levels, config.sparsifier,
                                      inference_block)
        statistics = level_statistics(module, config.levels, config.sparsifier, data, counts,
                                      inference_block)
    state = trainer.state()
    state.extra["rng_state"] = generator.get_state()
    return FitResult(module, position, state, statistics, trainer.step,
                     stop.signal_name if stop else None)


def level_statistics(module, levels, sparsifier, data, level_counts=None,
                     inference_block=8192):
    """Inference firing of every level over ``data``.

    ``level_counts`` are the per-latent counts of each level when the threshold
    calibration already produced them; otherwise one pass per level counts them. A
    latent is alive if it fires in any level it belongs to. Returns ``dead_fraction``
    (of the whole dictionary), ``level_mean_l0`` and ``level_dead_fraction`` (the
    latents new in each level) and ``latent_frequency`` (the last level's).
    """
    alive = torch.zeros(module.d_sae, dtype=torch.bool, device=data.device)
    level_l0, level_dead, start = [], [], 0
    for index, level in enumerate(levels):
        if level_counts is None:
            counts, l0 = firing_counts(module, data, level, index, sparsifier,
                                       inference_block)
        else:
            counts = level_counts[index]
            l0 = float(counts.sum()) / max(1, data.n_rows)
        alive[: level.d] |= counts > 0
        level_l0.append(float(l0))
        level_dead.append(float((counts[start:level.d] == 0).double().mean()))
        start = level.d
    return {"dead_fraction": float((~alive).double().mean()),
            "level_mean_l0": level_l0, "level_dead_fraction": level_dead,
            "latent_frequency": (counts.double() / data.n_rows).cpu().numpy()}


def epoch_monitor(module, config, n_epochs, position, *, tol, n_iter_no_change,
                  early_stopping=False, val=None, truth=None, score=None):
    """The end-of-epoch callback that scores held-out rows and applies the stopping rule.

    ``val`` are held-out device rows and ``truth`` the same rows as a float64 array;
    ``score(truth, reconstruction)`` (explained variance) goes to the position's
    ``validation`` after every epoch. The held-out score decides the stopping only with
    ``early_stopping``; otherwise it is watched and the training loss decides
    (:func:`.stopping.converged`). The rule ignores the warm-up epochs and those up to
    the last pruning stage. The atoms at the start of each epoch live in
    ``position`` (and in a mid-epoch checkpoint), so a resumed fit measures the same
    atom turns as an uninterrupted one.
    """
    warmup = stopping.warmup_epochs(n_epochs, max(
        config.l1_warmup, WARMUP_FRACTION if config.lr_schedule == "cosine_cycle" else 0.0))
    if config.pruning is not None:  # not converged while latents are still to be pruned
        warmup = max(warmup, config.pruning.last_epoch)
    if position.epoch_atoms is None:
        position.epoch_atoms = module.W_dec.detach().clone()
    on_validation = val is not None and early_stopping

    def monitor(position):
        if val is not None:
            position.validation.append(score(truth, _reconstruct(module, config, val)))
        now = module.W_dec.detach()
        position.atom_turns.append(stopping.largest_turn(position.epoch_atoms.to(now), now))
        position.epoch_atoms = now.clone()
        curve = position.validation if on_validation else position.curve
        if position.decay_from is None and stopping.converged(
                curve, tol, n_iter_no_change, start=warmup,
                higher_is_better=on_validation, relative=not on_validation,
                atom_turns=position.atom_turns):
            position.decay_from = position.epoch
            position.decay_epochs = stopping.decay_epochs(position.epoch)
    return monitor


@torch.no_grad()
def _reconstruct(module, config, rows):
    """Reconstruction of device ``rows`` coded as in training (last level), float64."""
    level, sparsifier = config.levels[-1], config.sparsifier
    blocks = [module.decode(sparsifier.train_codes(module.pre_activations(x)[:, : level.d],
                                                   level.k, module)).double().cpu().numpy()
              for x in rows.blocks(config.batch_size)]
    return np.concatenate(blocks)
