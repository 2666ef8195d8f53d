"""``python -m verl_metaagent.ablate``: the paper's ablations at CPU scale, with seeds (docs/ablations.md).

* :mod:`.arms` -- the arms (each a set of demo options and Hydra overrides), pure;
* :mod:`.stats` -- means, 95% confidence intervals, Welch differences, pure;
* :mod:`.runner` -- runs every (arm, seed) as one CPU demo training run, resumable per run;
* :mod:`.report` -- records -> ``results.json``, the markdown tables and the learning-curve plots.
"""
