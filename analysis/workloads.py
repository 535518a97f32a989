"""Which rows of a results table time the seed's stacks, which a real network's conv layers and which a whole model
(convbench.models.whole); which the forward and which the training step."""

from __future__ import annotations

import pandas as pd


def is_network(results: pd.DataFrame) -> pd.Series:
    """True for the rows of a network workload (runs made before networks existed have no `network` column)."""
    if "network" not in results:
        return pd.Series(False, index=results.index)
    return results["network"].fillna("").astype(str) != ""


def is_whole_model(results: pd.DataFrame) -> pd.Series:
    """True for the rows of a whole model (runs made before whole models existed have no `model` column)."""
    if "model" not in results:
        return pd.Series(False, index=results.index)
    return results["model"].fillna("").astype(str) != ""


def seed_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[~is_network(results) & ~is_whole_model(results)]


def network_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[is_network(results)]


def whole_model_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[is_whole_model(results)]


def pass_rows(results: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of one pass (read_results gives a run from before the train pass its `pass` column)."""
    passes = results["pass"] if "pass" in results else pd.Series("forward", index=results.index)
    return results[passes.fillna("forward") == name]
