"""Protocols: one experiment key that switches on a set of settings together.

``protocol: published`` selects every choice of the published code
(Bettgenhäuser et al. 2020, ``gabiBettgenhaeuser/Benefit_MTL_Sequence_Labeling``)
that this workflow can reproduce, at once:

========================  ==============  ==============================================
key                       published       why
========================  ==============  ==============================================
``slices``                ``contiguous``  task k trains on training tokens [k*n, (k+1)*n)
                                          in file order, the same for every seed
``corpus.cross_sentence`` ``true``        windows run across sentence and document
                                          borders (pad only at the split's ends)
``model.preset``          ``paper``       last-step BiLSTM readout, no activation
``model.layers``          ``LSTM_2FCs``   ``main.py`` loads the ``LSTM_2FCs`` class and
                                          ``config/config.json`` names it: two shared
                                          dense layers (256, 128), per task 64 -> c
``train.schedule``        ``sequential``  one task after the other within an epoch
========================  ==============  ==============================================

``protocol: default`` (the default) changes nothing. The protocol fills in only keys
that the experiment does not set itself, *before* the schema fills in its defaults,
so an explicit key always wins (``protocol: published`` with ``slices: disjoint``
keeps ``disjoint``). The filled-in values are ordinary config values afterwards:
they enter the config hash, and a run's settings show what was used.

The pretrained embeddings of the published code are not part of the protocol (the
paper does not name the file; a download of 7 GB should be asked for): set
``embeddings.url`` or ``embeddings.pretrained`` as well. ``docs/REPLICATION.md``
lists every difference between this project and the published code.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping

__all__ = ["PROTOCOLS", "apply_protocols", "protocol_settings"]

#: Settings each protocol fills in (nested like an experiment's config).
PROTOCOLS: dict[str, dict] = {
    "default": {},
    "published": {
        "slices": "contiguous",
        "corpus": {"cross_sentence": True},
        "model": {"preset": "paper", "layers": "LSTM_2FCs"},
        "train": {"schedule": "sequential"},
    },
}


def protocol_settings(name: str, *, key: str = "protocol") -> dict:
    """The settings that protocol ``name`` fills in (a deep copy).

    Parameters
    ----------
    name : str
        A key of :data:`PROTOCOLS`.
    key : str, default "protocol"
        The config key that named it, for the error message.

    Raises
    ------
    ValueError
        ``name`` is not a known protocol; the message names ``key`` and the choices.
    """
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise ValueError(
            f"config key '{key}' is {name!r}, not a known protocol; choose one of "
            f"{sorted(PROTOCOLS)}"
        )
    return copy.deepcopy(PROTOCOLS[name])


def _fill(target: MutableMapping, values: Mapping, where: str) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping):
            current = target.setdefault(key, {})
            if current is None:
                current = target[key] = {}
            if not isinstance(current, MutableMapping):
                raise ValueError(
                    f"config key '{where}.{key}' must be a mapping, got {current!r}"
                )
            _fill(current, value, f"{where}.{key}")
        elif key not in target:
            target[key] = value


def apply_protocols(config: MutableMapping) -> MutableMapping:
    """Fill in every experiment's protocol settings, in place, before schema validation.

    Parameters
    ----------
    config : mutable mapping
        The raw workflow config (as read from the config files, before
        ``snakemake.utils.validate`` fills in defaults).

    Returns
    -------
    mutable mapping
        ``config`` itself, for chaining.

    Raises
    ------
    ValueError
        An experiment's ``protocol`` is not a key of :data:`PROTOCOLS`, or a key the
        protocol fills is not a mapping where one is needed. The message names the key.
    """
    experiments = config.get("experiments") or {}
    if not isinstance(experiments, Mapping):
        return config  # the schema reports the wrong type
    for name, exp in experiments.items():
        if not isinstance(exp, MutableMapping):
            continue
        where = f"experiments.{name}"
        values = protocol_settings(exp.get("protocol", "default"), key=f"{where}.protocol")
        _fill(exp, values, where)
    return config
