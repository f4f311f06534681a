"""SpikeSAE() with its 'auto' sizes on shapes from (500 x 20) to (200,000 x 800).

    python benchmarks/bench_auto_defaults.py            # all shapes, one epoch on the largest
    python benchmarks/bench_auto_defaults.py --smoke    # the small shapes only

Prints the sizes 'auto' chose, the fit time and the held-out explained variance (last
20% of the rows). The largest shape trains ``--large-epochs`` epochs (default 1): the
point is that the defaults work at that size, not a converged model.
"""

import argparse
import time

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts


def run(n, f, epochs):
    X, _ = make_sparse_counts(n_samples=n, n_features=f, n_atoms=max(8, f // 4), random_state=0)
    X = X.astype("float32")
    split = int(0.8 * n)
    start = time.perf_counter()
    sae = SpikeSAE(n_epochs=epochs, random_state=0).fit(X[:split])
    seconds = time.perf_counter() - start
    print(f"{n:>8} x {f:<4} d_sae_ {sae.d_sae_:>5}  topk_ {sae.topk_:>2}  epochs {sae.n_iter_:>3}  "
          f"fit {seconds:7.1f} s  held-out EV {sae.score(X[split:]):.3f}  "
          f"dead {sae.dead_fraction_:.1%}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--large-epochs", type=int, default=1)
    args = parser.parse_args()
    shapes = [(500, 20, "auto"), (5000, 100, "auto"), (20_000, 200, "auto")]
    if not args.smoke:
        shapes.append((200_000, 800, args.large_epochs))
    for n, f, epochs in shapes:
        run(n, f, epochs)


if __name__ == "__main__":
    main()
