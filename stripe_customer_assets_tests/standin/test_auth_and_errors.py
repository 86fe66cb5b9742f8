import base64

import pytest
import stripe

from stripe_standin import StripeStandin

from .conftest import Api


def test_missing_key_is_401(api):
    status, _, body = api.get("/v1/customers", key=None)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in body["error"]["message"]


def test_unknown_key_is_401_and_the_key_is_never_echoed(standin):
    key = "sk_test_51SecretSecretSecretabcd"
    client = standin.stripe_client(key)
    with pytest.raises(stripe.AuthenticationError) as e:
        client.v1.customers.list()
    msg = e.value.user_message
    assert e.value.http_status == 401
    assert msg.startswith("Invalid API Key provided: sk_test_")
    assert msg.endswith("abcd") and "Secret" not in msg


def test_basic_auth_with_the_key_as_user_is_accepted(api):
    token = base64.b64encode(b"sk_test_standin:").decode()
    status, _, _ = api.get("/v1/balance", key=None, headers={"Authorization": f"Basic {token}"})
    assert status == 200


def test_balance_is_the_connection_test(client):
    b = client.v1.balance.retrieve().to_dict()
    assert b["object"] == "balance" and b["livemode"] is False
    assert b["available"][0]["currency"] == "usd"


def test_request_log_redacts_the_api_key(standin, client):
    client.v1.balance.retrieve()
    entry = standin.requests()[-1]
    assert entry["method"] == "GET" and entry["path"] == "/v1/balance"
    assert "sk_test_standin" not in str(entry)
    assert entry["headers"]["authorization"].startswith("Bearer sk_test_*")


@pytest.fixture
def restricted():
    s = StripeStandin(
        seed=1,
        restricted_keys={
            "rk_test_readonly123456": {"customers": "read"},
            "rk_test_sync12345678": {"customers": "write", "events": "read", "balance": "read"},
        },
    )
    with s:
        yield s


def test_restricted_key_without_permission_is_403_naming_it(restricted):
    ro = restricted.stripe_client("rk_test_readonly123456")
    ro.v1.customers.list()
    with pytest.raises(stripe.PermissionError) as e:
        ro.v1.customers.create(params={"name": "x"})
    msg = e.value.user_message
    assert e.value.http_status == 403
    assert "rak_customer_write" in msg and restricted.account_id in msg
    assert "rk_test_readonly123456" not in msg and msg.startswith("The provided key 'rk_test_")
    with pytest.raises(stripe.PermissionError) as e:
        ro.v1.events.list()
    assert "rak_event_read" in e.value.user_message
    with pytest.raises(stripe.PermissionError) as e:
        ro.v1.balance.retrieve()
    assert "rak_balance_read" in e.value.user_message


def test_restricted_key_with_write_can_read_too(restricted):
    rw = restricted.stripe_client("rk_test_sync12345678")
    c = rw.v1.customers.create(params={"name": "x"})
    assert rw.v1.customers.retrieve(c.id).name == "x"
    rw.v1.events.list()
    rw.v1.balance.retrieve()


def test_keys_can_be_added_and_removed_at_run_time(standin):
    standin.add_api_key("sk_test_second")
    standin.stripe_client("sk_test_second").v1.balance.retrieve()
    standin.remove_api_key("sk_test_second")
    with pytest.raises(stripe.AuthenticationError):
        standin.stripe_client("sk_test_second").v1.balance.retrieve()


def test_unknown_parameter_is_400_parameter_unknown_with_param(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"nmae": "typo"})
    assert e.value.http_status == 400
    assert e.value.code == "parameter_unknown" and e.value.param == "nmae"
    assert e.value.user_message == "Received unknown parameter: nmae"


def test_unknown_nested_parameter_names_the_full_path(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"address": {"street": "x"}})
    assert e.value.param == "address[street]"
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.list(params={"created": {"after": 1}})
    assert e.value.param == "created[after]"


def test_unknown_path_is_404(api):
    status, _, body = api.get("/v1/charges")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/charges)")
    status, _, _ = api.call("PUT", "/v1/customers")
    assert status == 404


def test_error_envelope_shape(api):
    status, headers, body = api.get("/v1/customers", {"limit": "x"})
    assert status == 400
    err = body["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "parameter_invalid_integer" and err["param"] == "limit"
    assert err["doc_url"] == "https://stripe.com/docs/error-codes/parameter-invalid-integer"
    assert headers["request-id"].startswith("req_")
    assert headers["content-type"] == "application/json"


def test_every_response_carries_request_id_and_stripe_version(api):
    status, headers, _ = api.get("/v1/balance", headers={"Stripe-Version": "2023-08-16"})
    assert status == 200 and headers["stripe-version"] == "2023-08-16"
    assert headers["request-id"].startswith("req_")


def test_other_account_in_stripe_account_header_is_refused(client):
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.list(options={"stripe_account": "acct_someoneelse"})


def test_admin_api_is_not_authenticated_and_not_under_v1(standin):
    status, _, body = Api(standin.base_url, key=None).get("/_standin/health")
    assert status == 200 and body["ok"] is True


def test_date_header_follows_the_standin_clock(standin, api):
    from email.utils import parsedate_to_datetime

    standin.set_clock(1_700_000_000, frozen=True)
    _, headers, _ = api.get("/v1/balance")
    assert parsedate_to_datetime(headers["date"]).timestamp() == 1_700_000_000
    standin.advance_clock(days=31)
    _, headers, _ = api.get("/v1/customers", key=None)
    assert parsedate_to_datetime(headers["date"]).timestamp() == 1_700_000_000 + 31 * 86400
