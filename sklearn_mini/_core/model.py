"""The sparse autoencoder module: encoder, sparse codes, decoder with unit-norm atoms."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .sparse_ops import ColumnPreActivations, DeadDecode, SelectedPreActivations
from .sparsity import encoder_hooks

OUTPUTS = ("identity", "relu", "softplus")
# Non-negative dictionaries start from random atoms over about this fraction of the units.
# Non-negative atoms over all units all lie near the all-ones direction (two |normal|
# vectors have cosine about 2/pi = 0.64), so a tied encoder would start close to rank one
# and the latents would separate slowly; atoms over a random fifth of the units start
# nearly orthogonal (expected cosine about 0.13).
POSITIVE_INIT_DENSITY = 0.2


def random_atoms(d_sae, width, generator, positive=False):
    """Random unit-norm atoms (float64): Gaussian, or for ``positive`` dictionaries
    ``|Gaussian|`` over a random ``POSITIVE_INIT_DENSITY`` of the columns (at least one)."""
    w = torch.randn(d_sae, width, generator=generator, dtype=torch.float64)
    if positive:
        mask = torch.rand(d_sae, width, generator=generator, dtype=torch.float64)
        mask = mask < POSITIVE_INIT_DENSITY
        mask[torch.arange(d_sae), torch.randint(width, (d_sae,), generator=generator)] = True
        w = w.abs() * mask
    return w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)


def inverse_softplus(y):
    """``x`` with ``softplus(x) = y`` (``y`` clamped to at least 1e-4)."""
    y = torch.as_tensor(y, dtype=torch.float64).clamp_min(1e-4)
    return y + torch.log(-torch.expm1(-y))


class SAEModule(nn.Module):
    """Encoder ``x -> (x - b_dec) @ W_enc + b_enc`` and decoder ``z -> z @ W_dec + b_dec``.

    Parameters
    ----------
    n_features, d_sae : int
        Input width and dictionary size.
    subtract_decoder_bias : bool
        Subtract ``b_dec`` from the input before encoding (centres the data on the
        reconstruction's offset, Bricken et al. 2023).
    output_relu : bool
        Apply a ReLU to reconstructions (spike counts are non-negative). Ignored when
        ``output='softplus'``.
    generator : torch.Generator
        The estimator's private generator (CPU), used for the initial weights.
    dtype : torch.dtype
    n_levels : int
        Number of nested levels (one calibrated threshold each).
    encoder : {'linear', 'jumprelu', 'gated'}
        The sparsity variant's ``encoder`` (:mod:`.sparsity`), which owns its extra
        per-latent tensors and pre-activation maths: ``'jumprelu'`` adds a trained
        threshold ``theta`` per latent (initialised at ``theta_init``, ``None``: the
        variant's default); ``'gated'`` adds the magnitude path's per-latent log-scale
        ``r_mag`` and bias ``b_mag`` (the gate uses ``W_enc``, ``b_enc``).
    decoder_layers : tuple of int
        Hidden sizes of a nonlinear decoder. Empty: the linear decoder ``z @ W_dec``.
        Otherwise ``W_dec`` (d_sae x first hidden size) is the first layer, followed by
        ReLU and linear layers, the last one to ``n_features`` without bias.
    output : {'identity', 'relu', 'softplus'} or None
        Link applied to the decoder output; ``None`` means ``'relu'`` if
        ``output_relu`` else ``'identity'``. ``'softplus'`` keeps predicted rates
        positive (Poisson loss).
    positive_dict : bool
        Keep every decoder atom non-negative (:meth:`project_decoder` after each step);
        the atoms start as :func:`random_atoms` with ``positive=True``. Linear decoder only.
    """

    def __init__(self, n_features, d_sae, *, subtract_decoder_bias, output_relu,
                 generator, dtype=torch.float32, n_levels=1, encoder="linear",
                 decoder_layers=(), output=None, theta_init=None, positive_dict=False):
        super().__init__()
        self.n_features = n_features
        self.d_sae = d_sae
        self.subtract_decoder_bias = bool(subtract_decoder_bias)
        self.output = output or ("relu" if output_relu else "identity")
        self.output_relu = self.output == "relu"
        self.encoder = encoder
        self.decoder_layers = tuple(int(h) for h in decoder_layers)
        self.positive_dict = bool(positive_dict)
        if self.positive_dict and self.decoder_layers:
            raise ValueError("positive_dict needs a linear decoder (no decoder_layers).")
        width = self.decoder_layers[0] if self.decoder_layers else n_features
        # Random unit-norm atoms; the encoder starts as the decoder's transpose
        # ("tied initialisation", Gao et al. 2024), which greatly reduces dead latents.
        w_dec = random_atoms(d_sae, width, generator, self.positive_dict)
        self.W_dec = nn.Parameter(w_dec.to(dtype))
        if self.decoder_layers:  # no transpose to tie to: independent unit-norm columns
            w_enc = torch.randn(n_features, d_sae, generator=generator, dtype=torch.float64)
            w_enc /= w_enc.norm(dim=0, keepdim=True).clamp_min(1e-12)
        else:
            w_enc = w_dec.T.contiguous()  # row-major, like its gradients (no layout copies)
        self.W_enc = nn.Parameter(w_enc.to(dtype))
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(n_features, dtype=dtype))
        # The encoder's own per-latent tensors and maths belong to its sparsity variant.
        self._hooks = encoder_hooks(encoder)
        extra = self._hooks.encoder_tensors(d_sae, dtype, theta_init)
        self._encoder_tensors = tuple(extra)
        for name, tensor in extra.items():
            setattr(self, name, nn.Parameter(tensor))
        if self.decoder_layers:
            self.hidden_bias = nn.Parameter(torch.zeros(width, dtype=dtype))
            # Layers after the first: ReLU then linear (the last one without bias, b_dec
            # is the output offset). He-uniform weights from the estimator's generator
            # (nn.Linear would draw from torch's global generator).
            sizes = [*self.decoder_layers, n_features]
            self.hidden_weights = nn.ParameterList()
            self.hidden_biases = nn.ParameterList()
            for a, b in zip(sizes, sizes[1:]):
                bound = math.sqrt(6.0 / a)
                w = torch.rand(b, a, generator=generator, dtype=torch.float64) * 2 * bound - bound
                self.hidden_weights.append(nn.Parameter(w.to(dtype)))
            for b in sizes[1:-1]:
                self.hidden_biases.append(nn.Parameter(torch.zeros(b, dtype=dtype)))
        # One calibrated inference threshold per level (BatchTopK); 0 otherwise.
        self.register_buffer("thresholds", torch.zeros(n_levels, dtype=torch.float64))

    def config(self):
        """Constructor arguments that rebuild this module's shapes and flags."""
        return {
            "n_features": self.n_features,
            "d_sae": self.d_sae,
            "subtract_decoder_bias": self.subtract_decoder_bias,
            "output_relu": self.output_relu,
            "output": self.output,
            "n_levels": int(self.thresholds.numel()),
            "encoder": self.encoder,
            "decoder_layers": list(self.decoder_layers),
            "positive_dict": self.positive_dict,
        }

    @property
    def linear_decoder(self):
        return not self.decoder_layers

    # Both maps compute in the dtype of their input (a no-op cast for the usual case of
    # input in the parameters' dtype), so float64 checks can run on a float32 model.
    def pre_activations(self, x, d=None):
        """Encoder pre-activations of latents ``[0, d)`` (all latents when ``d`` is None).

        Samples x latents; the gated encoder returns samples x latents x 2 (gate,
        magnitude; :meth:`.sparsity.gated.Gated.encode`).
        """
        d = self.d_sae if d is None else d
        w, b = self.W_enc[:, :d].to(x.dtype), self.b_enc[:d].to(x.dtype)
        if self.subtract_decoder_bias:
            # (x - offset) @ W == x @ W - offset @ W: folding the offset into the bias keeps
            # the input out of the graph, so backward never forms the batch x n_features
            # input gradient (a full-size matmul) just to reach the offset's gradient.
            b = b - self.input_offset().to(x.dtype) @ w
        return self._hooks.encode(self, x, w, b, d)

    def selected_pre_activations(self, x, pre, selection, n_offset=None):
        """Values of ``pre`` (computed without a graph) at ``selection``'s entries, with
        gradients to the encoder formed from those entries only.

        The dense path's backward multiplies ``x.T`` by a batch x d_sae gradient that is
        zero outside the selected entries; here that product is a sparse one
        (:class:`SelectedPreActivations`), a ``k / d_sae`` fraction of the work. Only
        the first ``n_offset`` entries (all by default) pass gradient to the input offset
        (the aux loss's entries must not move the shared ``b_dec``). Linear encoder only.
        """
        n_offset = len(selection.cols) if n_offset is None else n_offset
        offset = self.input_offset().to(x.dtype) if self.subtract_decoder_bias else None
        values = pre[selection.rows, selection.cols]
        return SelectedPreActivations.apply(values, x, offset, self.W_enc.to(x.dtype),
                                             self.b_enc.to(x.dtype), selection.rows,
                                             selection.cols, n_offset)

    def column_pre_activations(self, x, pre, cols):
        """``pre[:, cols]`` (computed without a graph) with gradients to the encoder's
        columns ``cols``, none to the input offset (:class:`ColumnPreActivations`).
        Linear encoder only."""
        offset = self.input_offset().detach().to(x.dtype) if self.subtract_decoder_bias else None
        return ColumnPreActivations.apply(pre[:, cols], x, offset, self.W_enc.to(x.dtype),
                                           self.b_enc.to(x.dtype), cols)

    def input_offset(self):
        """What the zero code predicts, subtracted from the input before encoding.

        ``b_dec`` itself for the identity and ReLU links (the usual pre-encoder bias);
        ``softplus(b_dec)`` for the softplus link, whose ``b_dec`` lives in log-rate-like
        units and must not be subtracted from counts. That offset is detached: through
        it the encoder's gradients moved a silent unit's baseline rate up, where the
        softplus's vanishing slope gave the decoder almost no gradient to pull it back
        down (a unit with no spike was predicted at 0.12 spikes a bin), so the baseline
        is the decoder's alone.
        """
        if self.output == "softplus":
            return F.softplus(self.b_dec).detach()
        return self.b_dec

    def block_decoder_bias_grad(self, pre):
        """``pre`` (samples x latents) with the same values but no gradient path to ``b_dec``.

        With ``subtract_decoder_bias`` the pre-activations depend on ``b_dec`` through
        ``(x - b_dec) @ W_enc``. Adding ``(b_dec - b_dec.detach()) @ W_enc`` (zero in
        value) cancels that path, so a loss on the result (the dead-latent aux loss)
        cannot move the shared decoder bias, at the cost of one vector-matrix product.
        """
        if not self.subtract_decoder_bias:
            return pre
        offset = self.input_offset()
        shift = (offset - offset.detach()).to(pre.dtype)
        return pre + shift @ self.W_enc[:, : pre.shape[-1]].to(pre.dtype)

    def _link(self, out):
        if self.output == "relu":
            return out.relu()
        if self.output == "softplus":
            return F.softplus(out)
        return out

    def decode(self, codes, with_bias=True, frozen=False):
        """Reconstruction from codes of the first ``codes.shape[1]`` latents.

        ``with_bias=False`` returns ``codes @ W_dec`` alone (linear decoder only; used by
        the dead-latent aux loss). ``frozen=True`` uses detached decoder parameters, so
        the loss on the result trains the encoder side only (gated aux loss).
        """
        def p(t):
            return (t.detach() if frozen else t).to(codes.dtype)

        w = p(self.W_dec[: codes.shape[-1]])
        if not with_bias:
            if self.decoder_layers:
                raise ValueError("A nonlinear decoder has no bias-free linear part.")
            return codes @ w
        if self.decoder_layers:
            h = torch.addmm(p(self.hidden_bias), codes, w)
            biases = [*self.hidden_biases, None]
            for weight, bias in zip(self.hidden_weights, biases):
                h = F.linear(h.relu(), p(weight), None if bias is None else p(bias))
            out = h + p(self.b_dec)
        else:
            out = torch.addmm(p(self.b_dec), codes, w)
        return self._link(out)

    def decode_dead(self, pre, mask, cols=None):
        """The aux loss's estimate of the residual from dead latents' pre-activations.

        ``pre`` holds the pre-activations of latents ``cols`` (all latents when None),
        ``mask`` the entries to decode (:func:`.sparsity.dead_latent_mask`). Their
        positive part is decoded through the atoms; their non-positive part through
        frozen atoms: a dead latent's pre-activations are negative wherever it would be
        useful and a ReLU'd code sends it no gradient, so that part moves only its
        encoder, towards the bins whose residual its atom would explain. No bias.
        Linear decoder only.
        """
        if self.decoder_layers:
            raise ValueError("A nonlinear decoder has no bias-free linear part.")
        w = self.W_dec if cols is None else self.W_dec[cols]
        return DeadDecode.apply(pre * mask, w.to(pre.dtype))

    def decode_sparse(self, values, index, offsets, with_bias=True, frozen=False):
        """Reconstruction from codes given as bags of (latent index, value) per sample.

        ``embedding_bag`` sums ``value * W_dec[index]`` per sample, so the forward pass
        and both gradients touch only the selected atoms: the batch x d_sae decoder
        products of :meth:`decode` are never formed. ``frozen`` as in :meth:`decode`.
        Linear decoder only.
        """
        w = (self.W_dec.detach() if frozen else self.W_dec).to(values.dtype)
        out = F.embedding_bag(index, w, offsets=offsets, per_sample_weights=values, mode="sum")
        if not with_bias:
            return out
        return self._link(out + self.b_dec.to(values.dtype))

    def atom_norms(self):
        """L2 norm of every decoder atom (row of ``W_dec``), differentiable."""
        return self.W_dec.norm(dim=1)

    @torch.no_grad()
    def init_decoder_bias(self, value):
        """Set ``b_dec`` so that the zero code predicts ``value`` (the data's mean or median).

        Through a softplus output the bias is the inverse softplus of ``value``.
        """
        value = torch.as_tensor(value, dtype=torch.float64)
        if self.output == "softplus":
            value = inverse_softplus(value)
        self.b_dec.copy_(value.to(self.b_dec.dtype))

    @torch.no_grad()
    def remove_radial_decoder_grad(self):
        """Project out the gradient component parallel to each (unit-norm) atom.

        Moving along an atom only changes its norm, which the renormalisation after the
        step undoes; removing that component keeps Adam's moment estimates honest.
        """
        if self.W_dec.grad is None:
            return
        w, g = self.W_dec, self.W_dec.grad
        # In place, one temporary of d_sae values: these passes over d_sae x n_features
        # matrices are memory-bound and add up at large sizes.
        g.addcmul_(torch.einsum("ij,ij->i", g, w).unsqueeze(1), w, value=-1)

    @torch.no_grad()
    def normalize_decoder(self):
        """Rescale every decoder atom to unit L2 norm."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def project_decoder(self, unit_norm):
        """Put the atoms back on their constraint set after an optimiser step.

        With ``positive_dict`` negative entries are set to 0 first (a projected gradient
        step onto the non-negative orthant); an atom left with no positive entry keeps
        its largest one at 1, so no atom is ever the zero vector. With ``unit_norm`` the
        atoms are then rescaled to unit norm: together, the nearest point of the unit
        sphere's non-negative part.
        """
        if self.positive_dict:
            w = self.W_dec
            largest = w.argmax(dim=1)
            w.clamp_(min=0.0)
            # No host synchronisation: rewrite every row's largest entry, with 1 where
            # the row is empty and its own value elsewhere.
            column = largest.unsqueeze(1)
            kept = w.gather(1, column)
            w.scatter_(1, column, torch.where(kept > 0, kept, torch.ones_like(kept)))
        if unit_norm:
            self.normalize_decoder()

    def latent_parameters(self):
        """``(parameter, latent dimension)`` of every tensor indexed by latent."""
        pairs = [(self.W_enc, 1), (self.b_enc, 0), (self.W_dec, 0)]
        return pairs + [(getattr(self, name), 0) for name in self._encoder_tensors]

    @torch.no_grad()
    def select_latents(self, index):
        """Keep the latents ``index``, in that order: new latent ``i`` is old ``index[i]``.

        A permutation renumbers the dictionary (its function is unchanged; only which
        latents form each nested prefix changes); a subset prunes it to ``len(index)``
        latents. Every per-latent tensor moves together.
        """
        for param, dim in self.latent_parameters():
            param.data = param.data.index_select(dim, index)
        self.d_sae = len(index)

    @torch.no_grad()
    def project_encoder(self):
        """Keep the encoder's own tensors valid after a step (JumpReLU: thresholds >= 0)."""
        self._hooks.project(self)


class _Link(nn.Module):
    def __init__(self, output):
        super().__init__()
        self.output = output

    def forward(self, x):
        return SAEModule._link(self, x)


@torch.no_grad()
def standalone_decoder(module):
    """A CPU ``nn.Sequential`` copy of ``module``'s decoder: codes -> reconstruction.

    Built from standard layers (Linear, ReLU and the output link), so it can be used,
    inspected or exported without sklearn_mini.
    """
    sizes = [module.d_sae, *module.decoder_layers, module.n_features]
    hidden = list(module.hidden_weights) if module.decoder_layers else []
    weights = [module.W_dec.T, *hidden]
    biases = ([module.hidden_bias, *module.hidden_biases, module.b_dec] if module.decoder_layers
              else [module.b_dec])
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = nn.Linear(sizes[i], sizes[i + 1], device="meta")
        linear.weight = nn.Parameter(w.detach().cpu().clone())
        linear.bias = nn.Parameter(b.detach().cpu().clone())
        layers += [linear, nn.ReLU()]
    layers[-1] = _Link(module.output)
    return nn.Sequential(*layers).eval()
