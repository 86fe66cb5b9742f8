"""The job ``stripe_overview``: the overview table (``stripe_customer_assets.overview``) in the UI.

Launch it from the launchpad (or ``dg launch --job stripe_overview``): its one step reads the
definitions and the instance and shows every pipeline and sync with enabled, automation, last
run, last counts and reject share as Markdown metadata of the step's output (and in its log).
It materializes no asset and writes nothing to the warehouse or Stripe: an asset would add a
run to every "Materialize all", and a sensor would tick for nothing.
"""

import dagster as dg


@dg.op(description="Every import pipeline and export sync with its state, as a table.")
def overview_table(context: dg.OpExecutionContext) -> dg.Output[None]:
    from stripe_customer_assets.definitions import defs
    from stripe_customer_assets.overview import markdown, overview, table

    items = overview(defs(), context.instance)
    context.log.info("\n" + table(items))
    return dg.Output(
        None,
        metadata={
            "overview": dg.MetadataValue.md(markdown(items)),
            "pipelines": sum(item.kind == "pipeline" for item in items),
            "syncs": sum(item.kind == "sync" for item in items),
        },
    )


@dg.job(
    name="stripe_overview",
    description="Show every import pipeline and export sync with enabled, automation, last run, "
    "last counts and reject share (the output's metadata). Reads only.",
)
def stripe_overview() -> None:
    overview_table()
