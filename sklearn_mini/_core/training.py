"""The one training loop shared by every sparse autoencoder estimator."""

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..exceptions import DivergenceError, DivergenceWarning
from . import losses
from .data import as_rows
from .schedules import SCHEDULES, final_decay_lr
from .sparsity import (
    Selection,
    SparsityInputs,
    ThresholdCalibrator,
    dead_columns,
    dead_latent_mask,
    dead_latent_selection,
)

# How often (in steps) the host looks at device-side statistics. Between these points
# the loop never synchronises with the device.
SYNC_INTERVAL = 16
# With verbose >= 1, the progress bar's running loss is refreshed every this many steps.
LOG_INTERVAL = 25
# Divergence: at every sync point the mean loss of the last SYNC_INTERVAL steps must be
# finite and at most DIVERGENCE_FACTOR times the loss of the fit's first batch, and the
# parameters finite. Otherwise the module goes back to the last good sync point, the
# optimiser's moments (which hold the blow-up) are cleared and the learning rate is
# multiplied by LR_BACKOFF, at most MAX_RETRIES times.
DIVERGENCE_FACTOR = 20.0
LR_BACKOFF = 0.1
MAX_RETRIES = 4
# Nested levels: at the end of each epoch in the first REORDER_FRACTION of a fit, the
# latents are renumbered by how often they fired in the whole dictionary during that
# epoch, most frequent first. A latent that found a frequent feature late, outside the
# first level, moves into it, and a rare one leaves; the whole dictionary's function is
# unchanged. The second half of the fit trains the final nesting undisturbed.
REORDER_FRACTION = 0.5
# The sparse path's aux loss decodes the dead latents by dense products while there are
# at most this many per latent each sample selects (k_aux), and by gather-sum beyond.
# benchmarks/bench_kernels.py --only aux puts the crossover at 20-27 on the 2-core
# development CPU (dense 2-20x faster well below it, at 71-739 units).
AUX_SPARSE_ENTRY_COST = 20


@dataclass(frozen=True)
class Level:
    """A nested dictionary level: latents ``[0, d)``, ``k`` active, loss weight."""

    d: int
    k: int
    weight: float = 1.0


@dataclass
class TrainConfig:
    """Everything the loop needs besides the model and the data."""

    levels: tuple
    sparsifier: object
    loss: str = "msle"
    tau: float = 1.0
    aux_coef: float = 1 / 32
    k_aux: int = 32
    dead_window: int = 50
    optimizer: str = "adam"
    lr: float = 5e-3
    lr_schedule: str = "cosine_cycle"
    batch_size: int = 1024
    verbose: int = 0
    prefix_sampling: str = "fixed"
    eps: float = 1e-8  # Poisson loss: keeps log finite for zero counts and rates
    momentum_decay: float = 4e-3  # NAdam only
    l1_warmup: float = 0.0  # fraction of a fit's steps over which the sparsity coef ramps
    sparse_decoder: bool = False  # gather-sum decode of the selected codes (TopK family)
    reorder: bool = False  # nested levels: sort latents by firing frequency (REORDER_FRACTION)


@dataclass
class TrainState:
    """What a later ``partial_fit`` needs to continue: optimiser and dead-latent clocks."""

    optimizer_state: dict | None = None
    steps_since_fired: torch.Tensor | None = None
    step: int = 0
    lr_scale: float = 1.0  # reduced by divergence roll-backs
    reference_loss: float | None = None  # first batch's loss, the divergence yardstick
    has_dead: bool | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Position:
    """Where a fit is in its loop: enough to continue it exactly after a stop."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # completed batches of the current epoch
    running: float = 0.0  # summed finite losses of those batches
    counted: int = 0  # how many batches that sum holds
    first_step: int = 0  # trainer step at which this fit's schedule started
    curve: list = field(default_factory=list)  # mean loss of every completed epoch
    dead_curve: list = field(default_factory=list)  # fraction not fired in each epoch
    validation: list = field(default_factory=list)  # held-out score after every epoch
    atom_turns: list = field(default_factory=list)  # largest atom turn of every epoch
    epoch_atoms: torch.Tensor | None = None  # decoder at the start of this epoch (stopping rule)
    decay_from: int | None = None  # epochs done when the convergence rule fired
    decay_epochs: int = 0  # length of the final decay that followed
    epoch_rng_state: torch.Tensor | None = None  # generator before this epoch's permutation
    rng_state: torch.Tensor | None = None  # generator at the stop (mid-epoch only)
    firing: torch.Tensor | None = None  # this epoch's last-level firing counts (mid-epoch only)
    fired: torch.Tensor | None = None  # latents fired so far this epoch (mid-epoch only)


def build_optimizer(name, params, lr, momentum_decay=4e-3):
    """Adam, NAdam (with its ``momentum_decay``) or AdamW over ``params``.

    Adam and AdamW use torch's fused kernels where this torch offers them (one pass over
    each parameter instead of a dozen elementwise ops, the optimiser step dominating
    large dictionaries on the CPU); the update is the same algorithm.
    """
    params = list(params)
    if name == "nadam":
        return torch.optim.NAdam(params, lr=lr, momentum_decay=momentum_decay)
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ValueError(f"Unknown optimizer {name!r}; expected 'adam', 'nadam' or 'adamw'.")
    try:
        return classes[name](params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or an unsupported device
        return classes[name](params, lr=lr)


def _tree_to(obj, device):
    """Move every tensor of a nested dict/list structure to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _tree_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tree_to(v, device) for v in obj)
    return obj


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
        self.sparsity_scale = 1.0
        state = state or TrainState()
        if state.optimizer_state is not None:
            saved = dict(state.optimizer_state)
            saved.setdefault("param_groups", self.optimizer.state_dict()["param_groups"])
            self.optimizer.load_state_dict(_tree_to(saved, device))
        self.lr_scale, self.reference_loss = state.lr_scale, state.reference_loss
        self.retries = 0
        self._good = None  # snapshot of the module at the last good sync point
        self._good_step = 0
        self._good_mean = 0.0  # mean loss of the interval that last passed the check
        self._interval_loss = torch.zeros((), dtype=torch.float64, device=device)
        self._interval_steps = 0
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
    def _step_levels(self):
        """The levels of this step: the nominal ones, or random inner cut points.

        With ``prefix_sampling='random'`` every inner level ``l`` gets a size drawn
        uniformly from ``max(k_l, d'_{l-1} + 1) .. d_l`` (its nominal size at most) with
        the estimator's generator; the last level is always the whole dictionary.
        """
        levels = self.cfg.levels
        if self.cfg.prefix_sampling != "random" or len(levels) == 1:
            return levels
        drawn, previous = [], 0
        for level in levels[:-1]:
            low = min(level.d, max(level.k, previous + 1))
            d = int(torch.randint(low, level.d + 1, (1,), generator=self.generator))
            drawn.append(Level(d, level.k, level.weight))
            previous = d
        return (*drawn, levels[-1])

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
        gradients as the dense path (``tests/test_sparse_path.py``).
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
            residual_hat = (module.decode_sparse(parts[-1] * is_dead, cols, offsets, with_bias=False)
                            + module.decode_sparse(below, cols, offsets, with_bias=False,
                                                   frozen=True))
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
            group["lr"] = lr * self.lr_scale
        loss, fired = self._loss(x)
        if self.reference_loss is None:
            self._set_reference_loss(float(loss.detach()), x)
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
        self._interval_loss += loss.double()
        self._interval_steps += 1
        if self.step % SYNC_INTERVAL == 0:
            self._has_dead = bool((self.steps_since_fired >= self.cfg.dead_window).any())
            self._check_divergence()
        return loss

    # ------------------------------------------------------------------ divergence
    def _set_reference_loss(self, value, x):
        if not math.isfinite(value):
            raise DivergenceError(
                f"The training loss is {value} on the first batch, before any update: the "
                f"input (largest value {float(x.abs().max()):.4g}) overflows {x.dtype} in "
                f"loss={self.cfg.loss!r}. Normalise the counts (e.g. SpikeBinner's "
                "normalize='max'), use dtype='float64', or a count loss ('msle', 'poisson')."
            )
        self.reference_loss = value

    def _snapshot(self):
        """Remember the module's current tensors as the last good state."""
        with torch.no_grad():
            tensors = list(self.module.state_dict().values())
            if self._good is None:
                self._good = [t.clone() for t in tensors]
            else:
                for good, live in zip(self._good, tensors):
                    good.copy_(live)
        self._good_step = self.step

    def _params_finite(self):
        sums = torch.stack([p.detach().sum() for p in self.module.parameters()])
        return bool(torch.isfinite(sums).all())

    def _check_divergence(self):
        """At a sync point: keep the state as good, or roll back (see DIVERGENCE_FACTOR)."""
        steps = self._interval_steps
        mean = float(self._interval_loss) / max(1, steps)
        self._interval_loss.zero_()
        self._interval_steps = 0
        if not self._diverged(mean):
            self._snapshot()
            self._good_mean = mean
            return
        self._roll_back(mean, steps)

    def _diverged(self, loss, floor=0.0):
        """Whether ``loss`` or the parameters show divergence: a non-finite loss or
        parameter, or a loss above DIVERGENCE_FACTOR times the larger of the first
        batch's loss and ``floor`` (no bound when both are 0)."""
        limit = DIVERGENCE_FACTOR * max(abs(self.reference_loss or 0.0), floor)
        return (not math.isfinite(loss) or (limit > 0 and loss > limit)
                or not self._params_finite())

    def _roll_back(self, mean, steps):
        with torch.no_grad():
            for good, live in zip(self._good, self.module.state_dict().values()):
                live.copy_(good)
        self.optimizer.state = defaultdict(dict)
        self.retries += 1
        if self.retries > MAX_RETRIES:
            raise DivergenceError(
                f"Training diverged {self.retries} times (mean loss {mean:.4g} over the last "
                f"{steps} steps against {self.reference_loss:.4g} at the start), the "
                f"last time at learning rate {self.cfg.lr * self.lr_scale:.3g}. Lower `lr` or "
                "check the scale of the input (e.g. normalise the counts)."
            )
        self.lr_scale *= LR_BACKOFF
        warnings.warn(
            f"Training diverged at step {self.step} (mean loss {mean:.4g} over the last "
            f"{steps} steps, {self.reference_loss:.4g} at the start): rolled back to "
            f"step {self._good_step} and continuing with learning rate "
            f"{self.cfg.lr * self.lr_scale:.3g} (retry {self.retries} of {MAX_RETRIES}).",
            DivergenceWarning, stacklevel=2,
        )

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
        of each epoch in the first ``REORDER_FRACTION`` of the fit. ``monitor(position)``
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
        reorder_epochs = (int(REORDER_FRACTION * n_epochs)
                          if reorder and cfg.reorder and len(cfg.levels) > 1 else 0)
        self._snapshot()
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
                    if not bar.disable and ((i + 1) % LOG_INTERVAL == 0 or i + 1 == steps_per_epoch):
                        # The only host synchronisation inside an epoch, and only when shown.
                        bar.set_postfix(epoch=pos.epoch + 1,
                                        loss=f"{float(running) / max(1, int(counted)):.4g}")
                    if stop and i + 1 < steps_per_epoch:
                        pos.batch, pos.running, pos.counted = i + 1, float(running), int(counted)
                        pos.rng_state = self.generator.get_state()
                        pos.firing = None if self._firing is None else self._firing.cpu()
                        pos.fired = self._epoch_fired.cpu()
                        return pos
                if self._interval_steps:  # short epochs: check at least once an epoch
                    self._check_divergence()
                pos.curve.append(float(running) / max(1, int(counted)))
                pos.dead_curve.append(float((~self._epoch_fired).double().mean()))
                if self._firing is not None:
                    self._reorder_latents()
                pos.epoch, pos.batch, pos.running, pos.counted = pos.epoch + 1, 0, 0.0, 0
                pos.epoch_rng_state = pos.rng_state = pos.firing = pos.fired = None
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
        """Refuse to return a model that never recovered from a divergence.

        Two cases: every update since the start was rolled back (the model is its
        initialisation), or the last updates, which no sync point judged since they came
        after the last loss it saw, blew up: the loss of the data's first rows under the
        final parameters is not finite, or more than DIVERGENCE_FACTOR times both the first
        batch's loss and the last interval that passed a check. The latter keeps a fit
        whose first loss was at rounding level (data the offset alone fits) from being
        called diverged for a loss that only drifted up from there.
        """
        if self.retries and self._good_step <= start_step:
            raise DivergenceError(
                f"Training diverged {self.retries} times and no update was kept: the model "
                f"is still its initialisation (last learning rate "
                f"{self.cfg.lr * self.lr_scale:.3g}). Lower `lr` or normalise the counts."
            )
        with torch.no_grad():
            loss = float(self._loss(data.take(torch.arange(min(batch_size, data.n_rows))))[0])
        if self._diverged(loss, floor=self._good_mean):
            raise DivergenceError(
                f"Training ended diverged: the final model's loss on the first rows is "
                f"{loss:.4g} against {self.reference_loss:.4g} at the start. Lower `lr` or "
                "normalise the counts."
            )

    def _start_firing_count(self, pos, active):
        """Count this epoch's firing (continuing a mid-epoch stop's counts) if ``active``."""
        self._firing = None
        if active:
            self._firing = (pos.firing.to(self.device) if pos.firing is not None
                            else torch.zeros(self.module.d_sae, dtype=torch.long,
                                             device=self.device))

    def _reorder_latents(self):
        """Renumber latents by this epoch's firing count, most frequent first (stable)."""
        order = torch.argsort(self._firing, descending=True, stable=True)
        self.module.permute_latents(order)
        params = {id(p): dim for p, dim in self.module.latent_parameters()}
        for param, moments in self.optimizer.state.items():
            dim = params.get(id(param))
            if dim is None:
                continue
            for value in moments.values():
                if torch.is_tensor(value) and value.shape == param.shape:
                    value.copy_(value.index_select(dim, order))
        self.steps_since_fired = self.steps_since_fired[order]
        if self._epoch_fired is not None:
            self._epoch_fired = self._epoch_fired[order]
        self._snapshot()  # a roll-back must not undo the renumbering

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
            optimizer_state=_tree_to(self.optimizer.state_dict(), "cpu"),
            steps_since_fired=self.steps_since_fired.cpu(),
            step=self.step,
            lr_scale=self.lr_scale,
            reference_loss=self.reference_loss,
            has_dead=self._has_dead,
        )


# ---------------------------------------------------------------------- inference
# Inference pads every block of rows. BLAS libraries pick their kernel by the matrix
# shape, and a 1-row product (gemv) rounds differently from a many-row one (gemm). On the
# CPU padding to a multiple of ROW_ALIGN rows makes a row's code bit-identical whatever
# else is in the call; cuBLAS also varies its kernel (and split-K reduction) with the
# row count, so on CUDA every block is padded to the full inference block size.
ROW_ALIGN = 64
CUDA_ROW_ALIGN = 8192


def iter_batches(X, batch_size):
    """Consecutive row blocks of ``X``."""
    for start in range(0, X.shape[0], batch_size):
        yield X[start:start + batch_size]


def padded_pre_activations(module, x, d=None):
    """Pre-activations of ``x`` computed on a row block padded to ``ROW_ALIGN`` rows."""
    n_rows = x.shape[0]
    pad = -n_rows % (CUDA_ROW_ALIGN if x.is_cuda else ROW_ALIGN)
    if pad:
        x = torch.cat([x, x.new_zeros(pad, x.shape[1])])
    return module.pre_activations(x, d)[:n_rows]


@torch.no_grad()
def calibrate_thresholds(module, X, levels, sparsifier, batch_size=8192):
    """Set ``module.thresholds`` for every level from the training data ``X``.

    For BatchTopK each level's threshold makes the mean inference L0 over ``X`` equal
    its ``k``; one pass over ``X`` serves every level, and the per-latent inference
    firing counts of each level come with it (returned, a list with one tensor per
    level). Other sparsifiers keep a threshold of 0 and return ``None``.
    """
    if not sparsifier.uses_threshold:
        module.thresholds.zero_()
        return None
    X = as_rows(X)
    calibrators = [ThresholdCalibrator(level.k * X.n_rows, level.d) for level in levels]
    for xb in X.blocks(batch_size):
        pre = padded_pre_activations(module, xb, levels[-1].d)
        for level, calibrator in zip(levels, calibrators):
            calibrator.update(pre[:, : level.d])
    counts = []
    for i, calibrator in enumerate(calibrators):
        threshold, level_counts = calibrator.result()
        module.thresholds[i] = threshold
        counts.append(level_counts)
    return counts


@torch.no_grad()
def encode(module, x, level, level_index, sparsifier):
    """Inference codes of one level for a batch ``x`` (row-wise, no batch coupling)."""
    pre = padded_pre_activations(module, x, level.d)
    return sparsifier.infer_codes(pre, level.k, float(module.thresholds[level_index]), module)


@torch.no_grad()
def firing_counts(module, X, level, level_index, sparsifier, batch_size=8192):
    """Per-latent number of samples of ``X`` on which each latent fires at inference."""
    X = as_rows(X)
    counts = torch.zeros(level.d, dtype=torch.long, device=X.device)
    for xb in X.blocks(batch_size):
        counts += (encode(module, xb, level, level_index, sparsifier) > 0).sum(0)
    return counts, float(counts.sum()) / max(1, X.n_rows)
