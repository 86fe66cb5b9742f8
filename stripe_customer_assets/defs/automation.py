"""The sensor that evaluates the project's automation conditions (``lib/automation.py``).

Dagster creates a ``default_automation_condition_sensor`` for assets with conditions, but it
starts stopped (it must be switched on in the UI); this one starts running, so a fresh
deployment's pipelines and syncs follow their schedules with no step in the UI. Turn every
automation of the project off (and on again) with this sensor's switch under Automation.
"""

import dagster as dg

from stripe_customer_assets.lib.keys import EXPORT_GROUP, IMPORT_GROUP, MIRROR_GROUP

stripe_automation = dg.AutomationConditionSensorDefinition(
    "stripe_automation",
    target=dg.AssetSelection.groups(MIRROR_GROUP, IMPORT_GROUP, EXPORT_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Runs the mirror, the import pipelines and the export syncs when their automation "
        "conditions say so (their schedule's cron ticks, a refreshed mirror, a changed model "
        "input). No Stripe call of its own. Stop it to stop all of them."
    ),
)
