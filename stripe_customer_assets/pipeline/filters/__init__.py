"""Filters: which customers a pipeline takes, as one SQL condition over the mirror, and in words."""
