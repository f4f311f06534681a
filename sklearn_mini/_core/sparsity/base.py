"""What a sparsity variant is (:class:`Sparsifier`) and the registry of them by name.

A variant is one class, in one module of this package, decorated with :func:`register`.
It owns everything that differs between variants:

* its hyperparameters (``params``: name -> default and scikit-learn constraints), which
  become parameters of the estimators with that default and those constraints
  (``sklearn_mini/_params.py``), and which :meth:`Sparsifier.from_params` reads back
  from the estimator's parameters;
* its flags (``uses_topk``, ``supports_sparse``, ``uses_threshold``,
  ``unit_norm_decoder``), which the estimators and the Trainer ask instead of comparing
  names;
* its encoder's extra per-latent tensors and pre-activation maths
  (:meth:`Sparsifier.encoder_tensors`, :meth:`Sparsifier.encode`), its projection
  after each optimiser step (:meth:`Sparsifier.project`), and the fitted attributes it
  gives the estimator (``fitted_attributes``, :meth:`Sparsifier.fitted`);
* its training and inference rules and its penalty.
"""

import torch

# name -> variant class, in registration order.
REGISTRY = {}
# The registered names. The estimators' ``sparsity`` constraint holds this very set, so
# a variant registered later (from a user's own module) is accepted too.
NAMES = set()


class Sparsifier:
    """Interface every sparsifier follows (the defaults suit a plain ranking rule).

    ``pre`` is what :meth:`~.model.SAEModule.pre_activations` returns: samples x latents
    (the gated encoder adds a trailing axis of size 2, gate and magnitude). Slicing
    ``pre[:, :d]`` gives a level's prefix for every sparsifier.
    """

    name = ""
    # hyperparameter -> (default, scikit-learn constraints). Each is also an argument of
    # the estimators' __init__, with the same default (tests/core/test_sparsity_registry.py).
    params = {}
    fitted_attributes = ()  # estimator attributes that fit sets from :meth:`fitted`
    uses_threshold = False  # a calibrated inference threshold per level (BatchTopK)
    supports_sparse = False  # offers select() for the sparse training path
    uses_topk = False  # ``topk`` (each level's ``k``) sets how many latents are kept
    unit_norm_decoder = True  # atoms kept at unit norm (radial gradient removed)
    encoder = "linear"  # the module's encoder: a variant's name when it has its own tensors

    def __init__(self, **params):
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(f"sparsity {self.name!r} has no parameter(s) {sorted(unknown)}; "
                            f"its parameters are {sorted(self.params)}.")
        for name, (default, _) in self.params.items():
            setattr(self, name, params.get(name, default))

    @classmethod
    def from_params(cls, params):
        """The variant with its hyperparameters taken from ``params`` (e.g. an
        estimator's ``get_params()``); missing ones keep their defaults."""
        return cls(**{name: params[name] for name in cls.params if name in params})

    # ------------------------------------------------------------ the module's encoder
    @staticmethod
    def encoder_tensors(d_sae, dtype, theta_init=None):
        """Extra per-latent parameters of this encoder: name -> initial tensor."""
        return {}

    @staticmethod
    def encode(module, x, w, b, d):
        """Pre-activations of latents ``[0, d)`` from the encoder columns ``w`` and bias
        ``b`` (the input offset already folded into ``b``)."""
        return torch.addmm(b, x, w)

    @staticmethod
    def project(module):
        """Keep the encoder's own tensors valid after an optimiser step (in place)."""

    def fitted(self, module):
        """``fitted_attributes`` as name -> array, read from the trained module."""
        return {}

    # ------------------------------------------------------------ codes and loss
    def train_codes(self, pre, k, module):
        raise NotImplementedError

    def infer_codes(self, pre, k, threshold, module):
        return self.train_codes(pre, k, module)

    def ranking(self, pre):
        """Samples x latents scores for the dead-latent auxiliary loss."""
        return pre

    def select_levels(self, pre, levels):
        """One :class:`Selection` per nested level (``select`` on each level's prefix)."""
        return [self.select(pre[:, : level.d], level.k) for level in levels]

    def penalty(self, batch):
        """Extra loss terms of one batch (:class:`SparsityInputs`), or ``None``."""
        return None


class SparsityInputs:
    """What a sparsifier's penalty may need from the current batch."""

    def __init__(self, x, pre, codes, module, reconstruction_loss, scale=1.0):
        self.x, self.pre, self.codes, self.module = x, pre, codes, module
        self.reconstruction_loss = reconstruction_loss
        self.scale = scale  # sparsity-coefficient warm-up factor in [0, 1]


def register(cls):
    """Class decorator: make the variant ``cls`` available as ``sparsity=cls.name``.

    A hyperparameter that another variant also has (``l1_coef``) must have the same
    default, since both read the estimators' one parameter.
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name to be registered.")
    if REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"A sparsity named {cls.name!r} is already registered "
                         f"({REGISTRY[cls.name].__name__}).")
    for param, (default, _) in cls.params.items():
        for other in REGISTRY.values():
            if param in other.params and other.params[param][0] != default:
                raise ValueError(f"{cls.__name__}.params[{param!r}] defaults to {default!r} "
                                 f"but {other.__name__}'s to {other.params[param][0]!r}.")
    REGISTRY[cls.name] = cls
    NAMES.add(cls.name)
    return cls


def make_sparsifier(name, params=None, **more):
    """The registered variant ``name`` with its hyperparameters from ``params`` and the
    keyword arguments (the others keep their defaults)."""
    if name not in REGISTRY:
        raise ValueError(f"Unknown sparsity {name!r}; expected one of {sorted(REGISTRY)}.")
    return REGISTRY[name].from_params({**(params or {}), **more})


def encoder_hooks(encoder):
    """The class whose encoder hooks a module with encoder ``encoder`` uses."""
    if encoder == "linear":
        return Sparsifier
    for cls in REGISTRY.values():
        if cls.encoder == encoder:
            return cls
    known = ["linear"] + sorted({cls.encoder for cls in REGISTRY.values()} - {"linear"})
    raise ValueError(f"Unknown encoder {encoder!r}; expected one of {tuple(known)}.")


def registry_table():
    """The user guide's table of the registered variants (reStructuredText), one row
    each: its summary (the first line of its docstring), its flags, its
    hyperparameters and the fitted attributes it adds."""
    def flag(value):
        return "yes" if value else "--"

    lines = [".. list-table::", "   :header-rows: 1", "",
             "   * - ``sparsity``", "     - what it keeps", "     - uses ``topk``",
             "     - sparse training path", "     - calibrated threshold",
             "     - its parameters", "     - fitted attributes"]
    for name, cls in REGISTRY.items():
        summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        params = ", ".join(f"``{p}={default!r}``" for p, (default, _) in cls.params.items())
        fitted = ", ".join(f"``{a}``" for a in cls.fitted_attributes)
        lines += [f"   * - ``'{name}'``", f"     - {summary}", f"     - {flag(cls.uses_topk)}",
                  f"     - {flag(cls.supports_sparse)}", f"     - {flag(cls.uses_threshold)}",
                  f"     - {params or '--'}", f"     - {fitted or '--'}"]
    return "\n".join(lines) + "\n"
