"""Preparing datasets across a Ray cluster (``chromasweep data prepare --address``): the shards that
``colorize_core.data.shards`` plans, each written whole by a Ray task on whichever node has a free CPU."""
