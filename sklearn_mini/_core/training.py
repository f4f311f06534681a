"""The one training loop shared by every sparse autoencoder estimator."""

import torch
from tqdm.auto import tqdm

from . import losses
from .data import as_rows
from .divergence import DivergenceGuard
from .matryoshka import NestingPolicy, frequency_order, select_latents
from .optimizers import build_optimizer, tree_to
from .pruning import cost_rows, survivors, with_last_size
from .schedules import SCHEDULES, final_decay_lr
from .sparsity import (
    Selection,
    SparsityInputs,
    dead_columns,
    dead_latent_mask,
    dead_latent_selection,
)
from .train_state import Level, Position, TrainConfig, TrainState

__all__ = ["Level", "Position", "TrainConfig", "TrainState", "Trainer"]

# How often (in steps) the host looks at device-side statistics (dead latents, the
# divergence check of :mod:`.divergence`). Between these points the loop never
# synchronises with the device.
SYNC_INTERVAL = 16
# With verbose >= 1, the progress bar's running loss is refreshed every this many steps.
LOG_INTERVAL = 25
# The sparse path's aux loss decodes the dead latents by dense products while there are
# at most this many per latent each sample selects (k_aux), and by gather-sum beyond.
# benchmarks/bench_kernels.py --only aux puts the crossover at 20-27 on the 2-core
# development CPU (dense 2-20x faster well below it, at 71-739 units).
AUX_SPARSE_ENTRY_COST = 20


def epoch_line(pos, n_epochs, lr):
    """The ``verbose=2`` line printed after each epoch (``pos.epoch`` epochs done)."""
    line = (f"epoch {pos.epoch}/{n_epochs}: loss {pos.curve[-1]:.5g}, "
            f"not fired {pos.dead_curve[-1]:.1%}, lr {lr:.3g}")
    if pos.validation:
        line += f", validation EV {pos.validation[-1]:.4f}"
    if pos.decay_from is not None:
        line += f" (converged at epoch {pos.decay_from}: final decay)"
    return line


class Trainer:
    """Runs epochs of mini-batch training of an :class:`~.model.SAEModule`.

    The data tensor stays on the device; every epoch draws a permutation from the
    estimator's CPU generator (so CPU and CUDA fits see identical batches) and gathers
    the batch rows by index.
    """

    def __init__(self, module, config, generator, device, state=None):
        self.module = module.to(device)
        self.cfg = config
        self.generator = generator
        self.device = device
        self.optimizer = build_optimizer(config.optimizer, module.parameters(), config.lr,
                                         config.momentum_decay)
        self.nesting = config.nesting or NestingPolicy()
        self.pruning = config.pruning
        if config.levels[-1].d != module.d_sae:  # resumed from a pruned fit's checkpoint
            config.levels = with_last_size(config.levels, module.d_sae)
        self.sparsity_scale = 1.0
        state = state or TrainState()
        if state.optimizer_state is not None:
            saved = dict(state.optimizer_state)
            saved.setdefault("param_groups", self.optimizer.state_dict()["param_groups"])
            self.optimizer.load_state_dict(tree_to(saved, device))
        self.guard = DivergenceGuard(self.module, self.optimizer, config.lr, config.loss,
                                     state.lr_scale, state.reference_loss)
        d_sae = module.d_sae
        if state.steps_since_fired is None:
            self.steps_since_fired = torch.zeros(d_sae, dtype=torch.long, device=device)
        else:
            self.steps_since_fired = state.steps_since_fired.to(device)
        self.step = state.step
        self._firing = None  # firing counts of the current epoch, while reordering
        self._epoch_fired = None  # latents that fired in a training step this epoch
        self._has_dead = (bool((self.steps_since_fired >= config.dead_window).any())
                          if state.has_dead is None else state.has_dead)

    # ------------------------------------------------------------------ one step
    @property
    def lr_scale(self):
        """The factor divergence roll-backs left on the learning rate."""
        return self.guard.lr_scale

    @property
    def reference_loss(self):
        """The first batch's loss, the divergence yardstick."""
        return self.guard.reference_loss

    def _step_levels(self):
        """The levels of this step (the nesting policy may draw inner cut points)."""
        return self.nesting.step_levels(self.cfg.levels, self.generator)

    def reconstruction_loss(self, x_hat, x):
        """The configured reconstruction loss (one formula in :mod:`.losses`)."""
        cfg = self.cfg
        return losses.reconstruction_loss(cfg.loss, x_hat, x, cfg.tau, cfg.eps)

    def _uses_sparse_path(self):
        sparsifier, module = self.cfg.sparsifier, self.module
        return (self.cfg.sparse_decoder and sparsifier.supports_sparse
                and module.linear_decoder and module.encoder == "linear")

    def _loss(self, x):
        """Total loss of one batch and the mask of latents that fired in any level."""
        if self._uses_sparse_path():
            return self._sparse_loss(x)
        module, sparsifier = self.module, self.cfg.sparsifier
        pre = module.pre_activations(x)
        total = x.new_zeros(())
        fired = torch.zeros(module.d_sae, dtype=torch.bool, device=x.device)
        codes = None
        for level in self._step_levels():
            codes = sparsifier.train_codes(pre[:, : level.d], level.k, module)
            x_hat = module.decode(codes)
            active = codes > 0
            fired[: level.d] |= active.any(0)
            total = total + level.weight * self.reconstruction_loss(x_hat, x)
        if self._firing is not None:  # the last level's mask: the whole dictionary
            self._firing += active.sum(0)
        # The last level is the whole dictionary: penalties and aux see every latent.
        penalty = sparsifier.penalty(SparsityInputs(
            x, pre, codes, module, self.reconstruction_loss, self.sparsity_scale))
        if penalty is not None:
            total = total + penalty
        # The aux loss reconstructs the residual linearly from dead atoms; a nonlinear
        # decoder has no such additive split, so it is not used there.
        if self._aux_active():
            # The aux term may move dead latents only: block its path to the shared b_dec.
            pre_aux = module.block_decoder_bias_grad(sparsifier.ranking(pre))
            dead = self._dead()
            cols = dead_columns(dead)
            if cols is None:
                total = total + self._dense_aux_loss(x, x_hat, pre_aux, dead=dead)
            else:
                total = total + self._dense_aux_loss(x, x_hat, pre_aux[:, cols], cols=cols)
        return total, fired

    def _sparse_loss(self, x):
        """:meth:`_loss` for TopK-family sparsifiers, touching only the selected entries.

        The encoder's product runs without a graph; every level selects its entries (and
        the aux loss its dead ones), and one sparse backward over all of them gives the
        encoder gradients. Decoding is a gather-sum over the selected atoms. Same loss and
        gradients as the dense path (``tests/core/test_sparse_path.py``).
        """
        cfg, module, sparsifier = self.cfg, self.module, self.cfg.sparsifier
        with torch.no_grad():
            pre = module.pre_activations(x)
        levels = self._step_levels()
        selections = sparsifier.select_levels(pre, levels)
        n_main = sum(len(s.cols) for s in selections)
        aux = self._aux_active()
        dead_cols = self._dense_aux_columns() if aux else None
        if aux and dead_cols is None:
            aux_selection, is_dead = dead_latent_selection(pre, self._dead(), cfg.k_aux)
            selections.append(aux_selection)
        joined = Selection(*(torch.cat(parts) for parts in zip(*selections)))
        raw = module.selected_pre_activations(x, pre, joined, n_offset=n_main)
        values = raw.relu()
        parts = values.split([len(s.cols) for s in selections])
        total = x.new_zeros(())
        for level, selection, level_values in zip(levels, selections, parts):
            x_hat = module.decode_sparse(level_values, selection.cols, selection.offsets)
            total = total + level.weight * self.reconstruction_loss(x_hat, x)
        # Mark fired latents without a host synchronisation.
        hits = torch.zeros(module.d_sae, device=x.device, dtype=values.dtype)
        hits.index_add_(0, joined.cols[:n_main], (values[:n_main] > 0).to(values.dtype))
        if self._firing is not None:
            last = selections[len(levels) - 1]
            self._firing.index_add_(0, last.cols, (parts[len(levels) - 1] > 0).long())
        if dead_cols is not None:
            pre_dead = module.column_pre_activations(x, pre, dead_cols)
            total = total + self._dense_aux_loss(x, x_hat, pre_dead, cols=dead_cols)
        elif aux:
            below = raw[len(raw) - len(aux_selection.cols):].clamp(max=0.0) * is_dead
            cols, offsets = aux_selection.cols, aux_selection.offsets
            residual_hat = (
                module.decode_sparse(parts[-1] * is_dead, cols, offsets, with_bias=False)
                + module.decode_sparse(below, cols, offsets, with_bias=False, frozen=True))
            total = total + self._aux_loss(x, x_hat, residual_hat)
        return total, hits > 0

    def _aux_active(self):
        return self._has_dead and self.cfg.aux_coef > 0 and self.module.linear_decoder

    def _dead(self):
        return self.steps_since_fired >= self.cfg.dead_window

    def _dense_aux_columns(self):
        """The dead latents, where the sparse path's aux loss is cheaper dense; else None.

        A gather-sum entry costs many dense multiply-adds, so dense products over the
        dead latents win while the ``k_aux`` each sample selects are more than
        ``1 / AUX_SPARSE_ENTRY_COST`` of them. Listing the dead latents is free on the
        CPU only (:func:`.sparsity.dead_columns`); elsewhere the gather-sum is kept.
        """
        cols = dead_columns(self._dead())
        if cols is None or len(cols) > AUX_SPARSE_ENTRY_COST * self.cfg.k_aux:
            return None
        return cols

    def _dense_aux_loss(self, x, x_hat, pre_dead, cols=None, dead=None):
        """The aux loss decoded by dense products: from the dead latents' columns
        ``cols`` of the pre-activations, or from all of them with the live ones masked
        out by ``dead``."""
        mask = dead_latent_mask(pre_dead, dead, self.cfg.k_aux)
        return self._aux_loss(x, x_hat, self.module.decode_dead(pre_dead, mask, cols))

    def _aux_loss(self, x, x_hat, residual_hat):
        """Weighted aux loss: dead latents reconstruct the (detached) residual."""
        return self.cfg.aux_coef * losses.aux_loss((x - x_hat).detach(), residual_hat)

    def _update_dead_clock(self, fired):
        self.steps_since_fired = torch.where(fired, 0, self.steps_since_fired + 1)
        if self._epoch_fired is not None:
            self._epoch_fired |= fired

    def train_step(self, x, lr):
        """One optimiser step on batch ``x`` at learning rate ``lr``; returns the loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * self.guard.lr_scale
        loss, fired = self._loss(x)
        if self.guard.reference_loss is None:
            self.guard.set_reference(float(loss.detach()), x)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        unit_norm = self.cfg.sparsifier.unit_norm_decoder
        if unit_norm:
            self.module.remove_radial_decoder_grad()
        self.optimizer.step()
        self.module.project_decoder(unit_norm)
        self.module.project_encoder()
        with torch.no_grad():
            self._update_dead_clock(fired)
        self.step += 1
        loss = loss.detach()
        self.guard.record(loss)
        if self.step % SYNC_INTERVAL == 0:
            self._has_dead = bool((self.steps_since_fired >= self.cfg.dead_window).any())
            self.guard.check(self.step)
        return loss

    # ------------------------------------------------------------------ epochs
    def _set_sparsity_scale(self, done, warmup_steps):
        """Linear warm-up of the sparsity coefficient over ``warmup_steps`` steps."""
        self.sparsity_scale = 1.0 if warmup_steps <= 0 else min(1.0, (done + 1) / warmup_steps)

    def _lr(self, pos, lr_at, total_steps, steps_per_epoch):
        """Learning rate of the next step: the schedule's, or the final decay's."""
        done, lr = self.step - pos.first_step, self.cfg.lr
        if pos.decay_from is None:
            return lr_at(done, total_steps, lr)
        start = pos.decay_from * steps_per_epoch
        return final_decay_lr(done - start, pos.decay_epochs * steps_per_epoch,
                              lr_at(start, total_steps, lr), lr)

    @staticmethod
    def last_epoch(pos, n_epochs):
        """The epoch count at which the run ends: ``n_epochs``, or the final decay's end."""
        if pos.decay_from is None:
            return n_epochs
        return min(n_epochs, pos.decay_from + pos.decay_epochs)

    def run(self, X, n_epochs, schedule=None, sparsity_warmup=True, position=None,
            stop=None, on_epoch_end=None, reorder=True, monitor=None):
        """Train until ``n_epochs`` epochs over ``X`` are complete.

        ``X`` is a device tensor or a :mod:`.data` rows object. ``schedule`` names the
        learning-rate schedule (default: the config's), spread over the fit's
        ``n_epochs * steps_per_epoch`` steps. With ``sparsity_warmup`` the sparsity
        coefficient ramps up linearly over the first ``l1_warmup`` fraction of those
        steps. ``position`` (a :class:`Position`, updated in place) continues a fit
        where it stopped; ``stop`` is checked after every step (a truthy value ends the
        run there); ``on_epoch_end(position)`` runs after each epoch. With ``reorder``
        and the config's ``reorder``, latents are sorted by firing frequency at the end
        of each epoch the nesting policy renumbers (:mod:`.matryoshka`). ``monitor(position)``
        runs after each epoch, before ``on_epoch_end``; when it sets the position's
        ``decay_from`` (the convergence rule of :mod:`.stopping`), the learning rate
        decays over its ``decay_epochs`` and the run ends there. Returns the position:
        its ``curve`` holds the mean loss of every completed epoch.
        """
        data = as_rows(X)
        cfg = self.cfg
        n = data.n_rows
        batch_size = min(cfg.batch_size, n)
        steps_per_epoch = -(-n // batch_size)
        total_steps = n_epochs * steps_per_epoch
        lr_at = SCHEDULES[schedule or cfg.lr_schedule]
        pos = position if position is not None else Position(first_step=self.step)
        warmup_steps = cfg.l1_warmup * total_steps if sparsity_warmup else 0
        reorder_epochs = self.nesting.reorder_epochs(n_epochs, len(cfg.levels)) if reorder else 0
        self.guard.snapshot(self.step)
        start_step = self.step
        lr = float("nan")  # the last step's, for the verbose=2 epoch line
        bar = tqdm(total=total_steps, initial=pos.epoch * steps_per_epoch + pos.batch,
                   desc="SAE fit", unit="step", disable=cfg.verbose < 1)
        try:
            while pos.epoch < self.last_epoch(pos, n_epochs):
                order = self._epoch_order(pos, n, data)
                running = torch.tensor(pos.running, dtype=torch.float64, device=self.device)
                counted = torch.tensor(pos.counted, dtype=torch.long, device=self.device)
                self._start_firing_count(pos, pos.epoch < reorder_epochs)
                self._epoch_fired = (pos.fired.to(self.device) if pos.fired is not None else
                                     torch.zeros(self.module.d_sae, dtype=torch.bool,
                                                 device=self.device))
                for i in range(pos.batch, steps_per_epoch):
                    start = i * batch_size
                    batch = data.take(order[start:start + batch_size])
                    lr = self._lr(pos, lr_at, total_steps, steps_per_epoch)
                    self._set_sparsity_scale(self.step - pos.first_step, warmup_steps)
                    loss = self.train_step(batch, lr).double()
                    finite = torch.isfinite(loss)
                    running += torch.where(finite, loss, 0.0)
                    counted += finite
                    bar.update()
                    shown = (i + 1) % LOG_INTERVAL == 0 or i + 1 == steps_per_epoch
                    if not bar.disable and shown:
                        # The only host synchronisation inside an epoch, and only when shown.
                        bar.set_postfix(epoch=pos.epoch + 1,
                                        loss=f"{float(running) / max(1, int(counted)):.4g}")
                    if stop and i + 1 < steps_per_epoch:
                        pos.batch, pos.running, pos.counted = i + 1, float(running), int(counted)
                        pos.rng_state = self.generator.get_state()
                        pos.firing = None if self._firing is None else self._firing.cpu()
                        pos.fired = self._epoch_fired.cpu()
                        return pos
                if self.guard.interval_steps:  # short epochs: check at least once an epoch
                    self.guard.check(self.step)
                pos.curve.append(float(running) / max(1, int(counted)))
                pos.dead_curve.append(float((~self._epoch_fired).double().mean()))
                if self._firing is not None:
                    self._reorder_latents()
                pos.epoch, pos.batch, pos.running, pos.counted = pos.epoch + 1, 0, 0.0, 0
                pos.epoch_rng_state = pos.rng_state = pos.firing = pos.fired = None
                size = None if self.pruning is None else self.pruning.due(pos.epoch)
                if size is not None:
                    self.prune(data, size, pos)
                if monitor is not None:
                    monitor(pos)
                if cfg.verbose >= 2:
                    bar.write(epoch_line(pos, n_epochs, lr))
                if on_epoch_end is not None:
                    on_epoch_end(pos)
                if stop:
                    return pos
        finally:
            self._firing = self._epoch_fired = None
            bar.close()
            # Gradients are rebuilt every step: free them now rather than hold two
            # parameter-sized buffers through the post-fit passes.
            self.optimizer.zero_grad(set_to_none=True)
        self._check_final_state(data, start_step, batch_size)
        return pos

    def _check_final_state(self, data, start_step, batch_size):
        """Refuse a model that never recovered from a divergence (:mod:`.divergence`)."""
        with torch.no_grad():
            loss = float(self._loss(data.take(torch.arange(min(batch_size, data.n_rows))))[0])
        self.guard.check_final(loss, start_step)

    def prune(self, data, size, pos=None):
        """Prune the dictionary to ``size`` latents (:mod:`.pruning`), keeping the
        optimiser's moments, the dead-latent clocks and the stopping rule's reference
        atoms of the survivors."""
        keep = survivors(self.module, self.cfg, cost_rows(data, self.generator), size,
                         self.pruning.first)
        self._select_latents(keep)
        if pos is not None and pos.epoch_atoms is not None:
            pos.epoch_atoms = pos.epoch_atoms[keep.to(pos.epoch_atoms.device)]
        self.cfg.levels = with_last_size(self.cfg.levels, size)
        self.guard.resize(self.step)

    def finish_pruning(self, data):
        """Prune to the final size now, if a stop came before the last stage."""
        if self.pruning is not None and self.module.d_sae > self.pruning.target:
            self.prune(data, self.pruning.target)

    def _start_firing_count(self, pos, active):
        """Count this epoch's firing (continuing a mid-epoch stop's counts) if ``active``."""
        self._firing = None
        if active:
            self._firing = (pos.firing.to(self.device) if pos.firing is not None
                            else torch.zeros(self.module.d_sae, dtype=torch.long,
                                             device=self.device))

    def _reorder_latents(self):
        """Renumber latents by this epoch's firing count, most frequent first (stable)."""
        self._select_latents(frequency_order(self._firing))
        self.guard.snapshot(self.step)  # a roll-back must not undo the renumbering

    def _select_latents(self, index):
        """Keep the latents ``index`` in that order (renumbering or pruning), with their
        optimiser moments, dead-latent clocks and this epoch's firing flags."""
        select_latents(self.module, self.optimizer, index)
        self.steps_since_fired = self.steps_since_fired[index]
        if self._epoch_fired is not None:
            self._epoch_fired = self._epoch_fired[index]

    def _epoch_order(self, pos, n, data):
        """This epoch's row order, drawn from the generator at the epoch's start.

        A fit continued mid-epoch redraws the same permutation from the saved state,
        then puts the generator where the stop left it.
        """
        if pos.epoch_rng_state is None:
            pos.epoch_rng_state = self.generator.get_state()
        else:
            self.generator.set_state(pos.epoch_rng_state)
        order = torch.randperm(n, generator=self.generator)
        if pos.rng_state is not None:
            self.generator.set_state(pos.rng_state)
        return order if data.streamed else order.to(self.device)

    def state(self):
        """A CPU copy of what :class:`TrainState` needs to continue later."""
        return TrainState(
            optimizer_state=tree_to(self.optimizer.state_dict(), "cpu"),
            steps_since_fired=self.steps_since_fired.cpu(),
            step=self.step,
            lr_scale=self.guard.lr_scale,
            reference_loss=self.guard.reference_loss,
            has_dead=self._has_dead,
        )
