"""A plain dense BatchTopK / TopK sparse autoencoder: the benchmark's reference.

Written the way public SAE code usually is (and independent of sklearn_mini's core): the
whole batch x d_sae code matrix is formed, decoded by a dense product, and
back-propagated through dense products; torch's default Adam; one loss read per step
for logging. Same model and hyperparameters as ``SpikeSAE`` in ``bench_sae.py`` (its
wave-1 defaults: BatchTopK, unconstrained atoms): tied unit-norm initialisation, decoder
bias from the data mean subtracted before encoding, ReLU output,
MSLE loss (tau 1), aux loss on latents dead for half an epoch of steps (k_aux =
n_features // 2, coefficient 1/32),
Adam at lr 5e-3, unit-norm decoder rows with the radial gradient removed. The schedule
(warm-up over 5% of steps, cosine decay to 10%) is simpler than SpikeSAE's cosine cycle;
it costs the same per step.

With ``levels`` and ``bf16=True`` it is also the benchmarks' stand-in for the authors'
research code (dense BatchTopK Matryoshka under bf16 autocast), written from that code's
description, not from its source; ``retinal_waves_bar.py --reference`` times it.
"""

import math

import torch


def _lr(step, n_steps, lr, warmup=0.05, floor=0.1):
    warm = max(1, int(warmup * n_steps))
    if step < warm:
        return lr * (step + 1) / warm
    progress = (step - warm) / max(1, n_steps - warm)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _codes(pre, k, batch):
    if batch:
        flat = pre.relu().flatten()
        values, index = flat.topk(k * pre.shape[0])
        return torch.zeros_like(flat).scatter(0, index, values).view_as(pre)
    values, index = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, index, values.relu())


def _msle(x_hat, x):
    return (torch.log1p(x_hat.clamp_min(0)) - torch.log1p(x)).pow(2).mean()


def fit_reference(X, d_sae, k, n_epochs, batch_size=1024, lr=5e-3, batch_topk=True,
                  seed=0, aux_coef=1 / 32, k_aux=None, dead_window=None, levels=None,
                  level_weights=None, bf16=False):
    """Train on ``X`` (float32 tensor); returns ``(W_enc, b_enc, W_dec, b_dec, threshold)``.

    ``threshold`` (BatchTopK) is the mean over training batches of the smallest kept
    value, the usual inference rule of BatchTopK code.

    ``levels`` (``(d, k)`` pairs, the last one ``(d_sae, k)``) makes it a Matryoshka SAE
    the way such code is usually written: every level codes its prefix of the latents on
    its own (top-k over the prefix), decodes it with a dense product, and the loss is the
    ``level_weights``-weighted mean of the levels' losses. ``bf16`` runs the forward pass
    under CPU autocast to bfloat16, as the research code's benchmark did.
    """
    levels = list(levels or [(d_sae, k)])
    weights = list(level_weights or [1.0] * len(levels))
    gen = torch.Generator().manual_seed(seed)
    n, f = X.shape
    w = torch.randn(d_sae, f, generator=gen)
    w /= w.norm(dim=1, keepdim=True)
    W_dec = torch.nn.Parameter(w)
    W_enc = torch.nn.Parameter(w.T.clone())
    b_enc = torch.nn.Parameter(torch.zeros(d_sae))
    b_dec = torch.nn.Parameter(X.mean(0))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    since_fired = torch.zeros(d_sae, dtype=torch.long)
    steps_per_epoch = math.ceil(n / batch_size)
    n_steps = n_epochs * steps_per_epoch
    k_aux = min(d_sae, k_aux or max(1, f // 2))  # SpikeSAE's defaults
    dead_window = dead_window or max(1, math.ceil(steps_per_epoch / 2))
    step, losses = 0, []
    for _ in range(n_epochs):
        for rows in torch.randperm(n, generator=gen).split(batch_size):
            x = X[rows]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                pre = (x - b_dec) @ W_enc + b_enc
                loss = 0.0
                for (d, k_level), weight in zip(levels, weights):
                    codes = _codes(pre[:, :d], k_level, batch_topk)
                    x_hat = torch.relu(codes @ W_dec[:d] + b_dec)
                    loss = loss + weight * _msle(x_hat.float(), x)
                loss = loss / sum(weights)
                dead = since_fired >= dead_window
                if dead.any():
                    aux = pre.masked_fill(~dead, float("-inf"))
                    values, index = aux.topk(min(k_aux, d_sae), dim=-1)
                    aux_codes = torch.zeros_like(pre).scatter(-1, index, values.relu())
                    residual = (x - x_hat).detach()
                    loss = loss + aux_coef * (residual - aux_codes @ W_dec).float().pow(2).mean()
            for group in opt.param_groups:
                group["lr"] = _lr(step, n_steps, lr)
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():
                W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
            opt.step()
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=1, keepdim=True)
                fired = (codes > 0).any(0)  # the last level's codes cover every latent
                since_fired = torch.where(fired, 0, since_fired + 1)
            losses.append(loss.item())
            step += 1
    k = levels[-1][1]
    with torch.no_grad():
        mins = []
        for rows in torch.arange(n).split(batch_size):
            codes = _codes((X[rows] - b_dec) @ W_enc + b_enc, k, batch_topk)
            mins.append(codes[codes > 0].min())
        threshold = float(torch.stack(mins).mean()) if batch_topk else None
    return W_enc.detach(), b_enc.detach(), W_dec.detach(), b_dec.detach(), threshold


@torch.no_grad()
def reconstruct_reference(params, X, k, batch_size=4096, return_codes=False):
    """Reconstructions of ``X``: codes above the threshold (BatchTopK) or per-row top-k.

    With ``return_codes`` also the codes, ``(reconstructions, codes)``.
    """
    W_enc, b_enc, W_dec, b_dec, threshold = params
    out, all_codes = [], []
    for rows in torch.arange(X.shape[0]).split(batch_size):
        pre = (X[rows] - b_dec) @ W_enc + b_enc
        codes = pre * (pre > threshold) if threshold is not None else _codes(pre, k, False)
        out.append(torch.relu(codes @ W_dec + b_dec))
        if return_codes:
            all_codes.append(codes)
    return (torch.cat(out), torch.cat(all_codes)) if return_codes else torch.cat(out)
