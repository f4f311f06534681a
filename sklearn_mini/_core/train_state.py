"""The plain values a fit is made of: its levels, its configuration, the state a later
``partial_fit`` continues from, and where a fit is in its loop (for a checkpoint)."""

from dataclasses import dataclass, field

import torch


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
    eps: float = 1e-8  # Poisson loss: keeps log finite for zero counts and rates
    momentum_decay: float = 4e-3  # NAdam only
    l1_warmup: float = 0.0  # fraction of a fit's steps over which the sparsity coef ramps
    sparse_decoder: bool = False  # gather-sum decode of the selected codes (TopK family)
    # Nested levels' policies (a .matryoshka.NestingPolicy; None: nominal levels, no
    # renumbering).
    nesting: object = None
    # An over-complete start pruned in stages (a .pruning.PruneSchedule; None: the
    # levels' sizes from the start). The loop resizes ``levels`` as it prunes.
    pruning: object = None


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
