"""The ``alerts`` limits: what counts as breached, and bad values named at their field."""

import pytest
from pydantic import ValidationError

from stripe_customer_assets.alerts import AlertThresholds, breaches
from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.pipeline.config import PipelineConfig


def test_each_limit_is_breached_only_above_it_and_says_value_and_limit():
    limits = AlertThresholds(max_reject_share=0.02, max_changes=10, max_runtime_s=60)
    assert breaches(limits, reject_share=0.02, changes=10, runtime_s=60) == []
    assert breaches(limits, reject_share=0.05, changes=11, runtime_s=61.5) == [
        "reject share 5.0% > max_reject_share 2.0%",
        "11 changes > max_changes 10",
        "runtime 61.5s > max_runtime_s 60s",
    ]
    # A limit not set, or a figure a step does not know, never alerts.
    assert breaches(AlertThresholds(max_changes=1), reject_share=1.0, runtime_s=1e6) == []
    assert breaches(limits, changes=None) == []


@pytest.mark.parametrize("model", [PipelineConfig, ExportConfig])
def test_bad_limits_are_named_at_their_field(model):
    with pytest.raises(ValidationError) as raised:
        model.model_validate({"alerts": {"max_reject_share": 2, "max_change": 5}})
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in raised.value.errors()}
    assert "less than or equal to 1" in errors["alerts.max_reject_share"]
    assert "unknown attribute 'max_change'; did you mean 'max_changes'?" in errors["alerts.max_change"]
