"""The application: the command line (``cli``), the main job and its report (``report``,
with the fits of ``_job_fits`` and the latent section of ``_job_latents``), the feature
cards (``cards``) and the figures (``plotting``). Nothing below imports from here; each
module is also importable from its earlier path, ``sklearn_mini.report`` and so on.
"""
