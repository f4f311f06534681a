"""A GridSearchCV sweep on a Dask cluster, and the d_sae descent.

Starts a local two-worker cluster; point ``Client`` at a real scheduler
(``Client("tcp://scheduler-host:8786")``) to run the same sweep on many machines.
Needs ``pip install "sklearn_mini[dask]"``.
"""

from distributed import Client, LocalCluster
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.model_selection import DSAESearch

X, _ = make_sparse_counts(n_samples=3000, n_features=32, n_atoms=12, random_state=0)

if __name__ == "__main__":  # worker processes import this file; only the parent sweeps
    sae = SpikeSAE(n_epochs=5, random_state=0)
    grid = {"topk": [1, 2, 3], "d_sae": [16, 48]}
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster), parallel_config(backend="dask"):
        search = GridSearchCV(sae, grid, cv=KFold(3), n_jobs=-1).fit(X)
    print("best on the cluster:", search.best_params_)

    # Then shrink the dictionary at the chosen topk until held-out R^2 drops.
    descent = DSAESearch(SpikeSAE(topk=search.best_params_["topk"], n_epochs=20,
                                  batch_size=256, random_state=0)).fit(X)
    print(descent.path_[["d_sae", "r2_unit", "r2_example", "selected"]])
    print("chosen d_sae:", descent.best_d_sae_, "(12 planted atoms)")
