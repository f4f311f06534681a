"""What the meta-estimators wrapping one SAE share: the default SAE and its tags."""

from sklearn.utils import get_tags


class WrapsSAE:
    """Mixin for a meta-estimator whose ``estimator`` parameter is an SAE (default
    ``SpikeSAE()``); it takes the input and dtype tags of the SAE it wraps, so that
    scikit-learn's checks and pipelines see what the inner model accepts."""

    def _base(self):
        if self.estimator is not None:
            return self.estimator
        from ..sae.spike import SpikeSAE  # lazy: sae imports the modules that use this mixin

        return SpikeSAE()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._base())
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.positive_only = inner.input_tags.positive_only
        tags.non_deterministic = inner.non_deterministic
        if tags.transformer_tags is not None and inner.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = inner.transformer_tags.preserves_dtype
        return tags
