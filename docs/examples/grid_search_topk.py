"""Choose ``topk`` by cross-validation over contiguous blocks of time.

Run: ``python docs/examples/grid_search_topk.py``
"""

from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts

X, _ = make_sparse_counts(n_samples=6000, n_features=48, n_atoms=24, n_active=4,
                          random_state=0)
X = X / X.max()

# KFold without shuffling splits the rows into contiguous blocks: held-out time.
search = GridSearchCV(
    SpikeSAE(d_sae=96, n_epochs=20, random_state=0),
    {"topk": [1, 2, 4, 8]},
    cv=KFold(n_splits=3),
)
search.fit(X)
for topk, score in zip(search.cv_results_["param_topk"], search.cv_results_["mean_test_score"]):
    print(f"topk={topk}: held-out explained variance {score:.3f}")
# Explained variance keeps growing with topk (more latents per bin reconstruct more), so
# the "best" score always favours the largest value; look for where the gain flattens.
print("best:", search.best_params_)
