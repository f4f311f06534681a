"""Checkpoints of an estimator's fit: when to write them, how to resume from them.

The file format (one atomic safetensors file) lives in :mod:`._core.checkpoint`; this
module ties it to an estimator: which parameters and data a checkpoint belongs to,
and how a fit picks up from one.
"""

import json

import torch

from .. import _model_files
from .._core import checkpoint_files
from .._core.data import fingerprint
from .._core.training import Position, Trainer, TrainState

# Parameters that do not change what a fit computes: a checkpoint written under other
# values of these still belongs to the same fit.
NOT_FIT_PARAMS = {"verbose", "checkpoint_dir", "checkpoint_every", "device",
                  "data_memory_limit"}


def _json_value(value):
    try:
        return json.loads(json.dumps(_model_files._jsonable(value)))
    except TypeError:  # e.g. a RandomState instance: its type is all we can compare
        return f"<{type(value).__name__}>"


class Checkpoints:
    """Writes and reads the checkpoints of one fit of ``estimator`` on ``X``."""

    def __init__(self, estimator, X, n_epochs):
        self.directory = estimator.checkpoint_dir
        self.every = estimator.checkpoint_every
        self.n_epochs = n_epochs
        self.class_name = type(estimator).__name__
        self.params = {k: _json_value(v) for k, v in estimator.get_params(deep=False).items()
                       if k not in NOT_FIT_PARAMS}
        self.data = {"shape": list(X.shape), "dtype": str(X.dtype), "hash": fingerprint(X)}

    # -------------------------------------------------------------- writing
    def on_epoch_end(self, trainer):
        """The trainer's epoch-end hook: a checkpoint every ``every`` epochs and at the end."""
        def hook(position):
            if (position.epoch % self.every == 0
                    or position.epoch >= Trainer.last_epoch(position, self.n_epochs)):
                self.save(trainer, position)
        return hook

    def save(self, trainer, position):
        tensors = {f"module.{k}": v for k, v in trainer.module.state_dict().items()}
        tensors.update(checkpoint_files.optimizer_tensors(trainer.optimizer.state_dict()))
        tensors["steps_since_fired"] = trainer.steps_since_fired
        if position.batch:  # stopped mid-epoch: the epoch's start and where it stopped
            tensors["rng.epoch"] = position.epoch_rng_state
            tensors["rng.now"] = position.rng_state
            if position.firing is not None:  # latent reordering's counts so far
                tensors["firing"] = position.firing
            tensors["fired"] = position.fired
            if position.epoch_atoms is not None:  # the stopping rule's reference atoms
                tensors["atoms.epoch"] = position.epoch_atoms
        else:
            tensors["rng.epoch"] = trainer.generator.get_state()
        meta = {
            "class": self.class_name, "params": self.params, "data": self.data,
            "n_epochs": self.n_epochs,
            "complete": position.epoch >= Trainer.last_epoch(position, self.n_epochs),
            "position": {"epoch": position.epoch, "batch": position.batch,
                         "running": position.running, "counted": position.counted,
                         "first_step": position.first_step, "curve": position.curve,
                         "dead_curve": position.dead_curve,
                         "validation": position.validation,
                         "atom_turns": position.atom_turns,
                         "decay_from": position.decay_from,
                         "decay_epochs": position.decay_epochs},
            "trainer": {"step": trainer.step, "lr_scale": trainer.lr_scale,
                        "reference_loss": trainer.reference_loss,
                        "has_dead": trainer._has_dead},
        }
        return checkpoint_files.write(self.directory, tensors, meta)

    # -------------------------------------------------------------- reading
    def resume(self, module, generator, state, position):
        """Load a compatible checkpoint into ``module``/``generator``; new state and position.

        Without a checkpoint the given ``state`` and ``position`` come back unchanged.
        """
        found = checkpoint_files.read(self.directory)
        if found is None:
            return state, position
        tensors, meta = found
        self._check_compatible(meta)
        saved_d = tensors["module.W_dec"].shape[0]
        if saved_d < module.d_sae:  # written after a pruning stage: the survivors' size
            module.select_latents(torch.arange(saved_d))
        own = module.state_dict()
        module.load_state_dict({k: tensors[f"module.{k}"].to(v.dtype) for k, v in own.items()})
        saved = meta["position"]
        position = Position(epoch=saved["epoch"], batch=saved["batch"],
                            running=saved["running"], counted=saved["counted"],
                            first_step=saved["first_step"], curve=list(saved["curve"]),
                            dead_curve=list(saved["dead_curve"]),
                            validation=list(saved.get("validation", [])),
                            atom_turns=list(saved.get("atom_turns", [])),
                            decay_from=saved.get("decay_from"),
                            decay_epochs=saved.get("decay_epochs", 0),
                            epoch_rng_state=tensors["rng.epoch"],
                            rng_state=tensors.get("rng.now"),
                            firing=tensors.get("firing"), fired=tensors.get("fired"),
                            epoch_atoms=tensors.get("atoms.epoch"))
        generator.set_state(tensors.get("rng.now", tensors["rng.epoch"]))
        trainer = meta["trainer"]
        state = TrainState(
            optimizer_state=checkpoint_files.optimizer_state(tensors),
            steps_since_fired=tensors["steps_since_fired"].to(torch.long),
            step=trainer["step"], lr_scale=trainer["lr_scale"],
            reference_loss=trainer["reference_loss"], has_dead=trainer["has_dead"])
        return state, position

    def _check_compatible(self, meta):
        where = checkpoint_files.path_in(self.directory)
        advice = ("Use another checkpoint_dir for this fit, or delete the checkpoint to "
                  "start afresh.")
        if meta.get("class") != self.class_name:
            raise ValueError(f"{where} is a checkpoint of a {meta.get('class')}, not of this "
                             f"{self.class_name}. {advice}")
        saved = meta.get("params", {})
        differ = sorted(k for k in set(saved) | set(self.params)
                        if saved.get(k) != self.params.get(k))
        if differ:
            detail = ", ".join(f"{k}={saved.get(k)!r} there, {self.params.get(k)!r} here"
                               for k in differ)
            raise ValueError(f"{where} was written by a fit with other parameters ({detail}). "
                             f"{advice}")
        if meta.get("data") != self.data:
            raise ValueError(f"{where} was written by a fit on other data (shape "
                             f"{meta.get('data', {}).get('shape')} there, {self.data['shape']} "
                             f"here, or the same shape with other values). {advice}")
        if meta.get("n_epochs") != self.n_epochs:
            raise ValueError(f"{where} belongs to a fit of {meta.get('n_epochs')} epochs, this "
                             f"one runs {self.n_epochs}. {advice}")
