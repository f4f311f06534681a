"""From raw spike times to sparse latents, with the bin size chosen by cross-validation.

Run: ``python docs/examples/raw_spikes_pipeline.py``
"""

from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_mini import SpikeBinner, SpikeSAE
from sklearn_mini.datasets import make_sparse_spikes

# 5 minutes of 40 units driven by 16 planted features (rates constant over 50 ms).
spikes, truth = make_sparse_spikes(n_units=40, duration=300.0, n_atoms=16, n_active=2,
                                   rate_scale=3.0, random_state=0)
print(spikes)

# The last 30% of the recording is held out.
train, test = spikes.restrict(0.0, 210.0), spikes.restrict(210.0, 300.0)

pipe = make_pipeline(SpikeBinner(bin_size=0.05, min_rate=0.5),
                     SpikeSAE(d_sae=64, topk=4, n_epochs=30, random_state=0))
search = GridSearchCV(pipe, {"spikebinner__bin_size": [0.025, 0.05, 0.1]}, cv=KFold(3))
search.fit(train)  # KFold on a time-sorted container: contiguous blocks of time
# Each bin size scores a different matrix (finer bins are sparser), so these numbers say
# how well each binning is reconstructed, not which binning is "true".
for size, score in zip(search.cv_results_["param_spikebinner__bin_size"],
                       search.cv_results_["mean_test_score"]):
    print(f"bin_size={size}: cross-validated explained variance {score:.3f}")

best = search.best_estimator_
print("kept units:", len(best[0].unit_ids_), "of", spikes.n_units)
print(f"held-out explained variance: {best.score(test):.3f}")
latents = best.transform(test)  # (n_bins, d_sae)
print("latents on held-out time:", latents.shape)
