"""``sparsity='relu'``: ReLU codes with an L1-type penalty."""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from .. import penalties
from .base import Sparsifier, register


@register
class ReLUL1(Sparsifier):
    """ReLU codes with an L1-type penalty of weight ``l1_coef`` (:func:`.penalties.l1_penalty`).

    ``'standard'`` keeps the atoms at unit norm, so the penalty cannot be dodged by
    shrinking codes and growing atoms; ``'decoder_norm'`` and ``'tanh'`` weigh each code
    by its atom's norm and leave the decoder unconstrained.
    """

    name = "relu"
    params = {
        "l1_coef": (1e-3, [Interval(Real, 0, None, closed="left")]),
        "l1_penalty": ("standard", [StrOptions(set(penalties.L1_PENALTIES))]),
        "tanh_A": (1.0, [Interval(Real, 0, None, closed="neither")]),
        "tanh_B": (1.0, [Interval(Real, 0, None, closed="neither")]),
    }

    def __init__(self, l1_coef=1e-3, l1_penalty="standard", tanh_A=1.0, tanh_B=1.0):
        self.l1_coef = l1_coef
        self.kind = l1_penalty
        self.tanh_A, self.tanh_B = tanh_A, tanh_B
        self.unit_norm_decoder = l1_penalty == "standard"

    def train_codes(self, pre, k=None, module=None):
        return pre.relu()

    def penalty(self, batch):
        norms = batch.module.atom_norms()
        value = penalties.l1_penalty(batch.codes, norms, self.kind, self.tanh_A, self.tanh_B)
        return (self.l1_coef * batch.scale) * value
