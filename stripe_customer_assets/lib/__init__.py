"""The thin Dagster layer shared by the defs: keys, tags, components."""
