"""Gale Python SDK: write spouts and bolts in Python, run them as Gale tasks.

A component subclasses :class:`Spout` or :class:`Bolt` and calls
:func:`run`; the node starts it (``run: [python3, split.py]`` in a topology)
or it attaches to a node by itself. :class:`TopologyBuilder` builds a
topology spec in Python and :func:`submit` submits it. Both speak mutual
TLS to a node that requires it (:class:`TLSFiles`, or the GALE_TLS_*
variables a node sets for the processes it manages).

    import re
    import gale

    class Split(gale.Bolt):
        def execute(self, tup):
            for word in tup["sentence"].split():
                self.emit([word], tup)
            self.ack(tup)

    if __name__ == "__main__":
        gale.run(Split())
"""

from gale.builder import BoltDeclarer, SpoutDeclarer, TopologyBuilder, connect, submit
from gale.component import Bolt, Component, Spout
from gale.context import (
    DEFAULT_STREAM,
    SYSTEM_COMPONENT,
    TICK_STREAM,
    Config,
    ConfigError,
    Input,
    Source,
    Stream,
    TaskContext,
    Tuple,
)
from gale.errors import AckError, AttachError, EmitError, GaleError, SubmitError, TopologyError
from gale.runner import SDK_VERSION, AttachOptions, run, serve
from gale.tls import TLSFiles
from gale.values import ValueTypeError

__version__ = SDK_VERSION

__all__ = [
    "AckError",
    "AttachError",
    "AttachOptions",
    "Bolt",
    "BoltDeclarer",
    "Component",
    "Config",
    "ConfigError",
    "DEFAULT_STREAM",
    "EmitError",
    "GaleError",
    "Input",
    "SDK_VERSION",
    "SYSTEM_COMPONENT",
    "Source",
    "Spout",
    "SpoutDeclarer",
    "Stream",
    "SubmitError",
    "TICK_STREAM",
    "TLSFiles",
    "TaskContext",
    "TopologyBuilder",
    "TopologyError",
    "Tuple",
    "ValueTypeError",
    "connect",
    "run",
    "serve",
    "submit",
]
