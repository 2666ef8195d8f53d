"""Write every report file of an evaluation run folder from its records.

``write_report(out_dir)`` -> ``results.md``, ``results.csv``, ``results_long.csv`` (the table),
``analysis.md`` and ``plots/*.png`` (structure analysis). Reads only ``records.jsonl``, so it can
be run at any time, also while an evaluation is still going.
"""

from __future__ import annotations

import os

from verl_metaagent.eval.analysis import render_analysis_markdown, write_plots
from verl_metaagent.eval.records import RunStore
from verl_metaagent.eval.table import write_tables

__all__ = ["write_report"]


def write_report(out_dir: str, *, title: str = "Results", system: str = "metaagent", baseline: str = "single_agent",
                 plots: bool = True) -> dict[str, str]:
    """Write the tables, the analysis and (``plots=True``) the PNGs; returns ``{name: path}``.

    Raises ``ValueError`` when ``out_dir`` has no records.
    """
    records = RunStore(out_dir).load_records()
    if not records:
        raise ValueError(
            f"{os.path.join(out_dir, 'records.jsonl')} has no records; run `metaagent eval --out {out_dir}` first")
    paths = write_tables(records, out_dir, title=title)
    analysis = render_analysis_markdown(records, system=system, baseline=baseline)
    if plots:
        pngs = write_plots(records, os.path.join(out_dir, "plots"), system=system, baseline=baseline)
        for p in pngs:
            paths[os.path.basename(p)] = p
        if pngs:
            analysis += "\n### Plots\n\n" + "\n".join(f"![{os.path.basename(p)}](plots/{os.path.basename(p)})"
                                                      for p in pngs) + "\n"
    path = os.path.join(out_dir, "analysis.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(analysis)
    paths["analysis.md"] = path
    return paths
