"""Generated protobuf and gRPC code for the gale.v1 wire contract.

Everything in this package except this file is produced by ``make generate``
from ``proto/gale/v1/*.proto``; do not edit it by hand.
"""
