"""When an export sync may write to Stripe: only when a run asked for that sync.

A sync's write step (the asset ``<name>``) is downstream of the mirror and of its plan, so
"Materialize all" in the UI, a ``dg launch --assets`` selection that matches nothing (Dagster
then runs every asset) or a selection such as ``stripe/customers*`` would reach it as a side
effect. It writes only when the run is

- the sync's own job ``<name>_job`` (the UI's launchpad, ``dg launch --job``, a sensor
  targeting it, a re-execution of such a run): the mirror, the plan and the sync;
- a run that materializes this sync's assets, with or without the mirror, and nothing else
  (``Materialize`` on the sync in the UI, ``dg launch --assets <name>_plan,<name>``, the
  job's selection ``stripe/customers,<name>_plan,<name>``);
- a run requested by Dagster's automation for the sync (its ``schedule`` or ``deps``
  conditions: the sync is in such a run only when its own condition asked for it).

Any other run skips the write step: it sends nothing, materializes nothing, and logs why.

An *example* sync (``example: true`` in its defs.yaml, like the shipped ``crm_export``) writes
only to the project's Stripe stand-in, recognised by its key ``sk_test_standin``: no Stripe
account can hold that key (Stripe answers 401 to it), so a write it carries can never reach a
real account, whatever ``STRIPE_API_BASE`` says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from stripe_customer_assets.lib.keys import MIRROR_KEY

# The project's Stripe stand-in's key (``standin.STANDIN_API_KEY``), spelled here so that a
# code location does not load the stand-in to know it.
STANDIN_API_KEY = "sk_test_standin"
# Tags Dagster's automation (declarative automation, the older auto-materialize) puts on runs.
AUTOMATION_TAGS = ("dagster/from_automation_condition", "dagster/auto_materialize")


def write_refusal(
    name: str,
    *,
    job_name: str,
    asset_selection: Iterable[dg.AssetKey] | None,
    tags: Mapping[str, str],
) -> str | None:
    """Why this run must not write for sync ``name``, or None when it asked for the sync."""
    if job_name == f"{name}_job":
        return None
    if any(tag in tags for tag in AUTOMATION_TAGS):
        return None
    own = {dg.AssetKey([name]), dg.AssetKey([f"{name}_plan"]), MIRROR_KEY}
    selected = set(asset_selection or ())
    if dg.AssetKey([name]) in selected and selected <= own:
        return None
    what = f"{len(selected)} assets" if selected else "every asset"
    return (
        f"The export sync '{name}' sent nothing to Stripe: this run ({job_name}, {what}) "
        "did not ask for it, and a sync never writes as a side effect of materializing other "
        f"assets. To apply its plan, run its job (dg launch --job {name}_job, or from the UI), "
        f"let its schedule run it, or materialize only '{name}_plan' and '{name}'."
    )


def example_refusal(name: str, api_key: str) -> str | None:
    """Why example sync ``name`` must not write with ``api_key``, or None for the stand-in."""
    if api_key.strip() == STANDIN_API_KEY:
        return None
    return (
        f"'{name}' is an example sync (example: true in its defs.yaml): it writes only to the "
        "project's Stripe stand-in (STRIPE_API_KEY=" + STANDIN_API_KEY + "), and STRIPE_API_KEY "
        "holds another key, so nothing was sent. To export to your own account, make the "
        "model yours and remove `example: true` from its defs.yaml."
    )
