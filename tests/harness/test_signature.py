"""The double's ACS3-HMAC-SHA256 verifier: against Alibaba Cloud's documented example, against
requests signed by the real SDK, and its refusals over HTTP."""

from __future__ import annotations

import calendar
import hashlib
import json
import time
import urllib.error
import urllib.request

import pytest
import slb_double as d
from alibabacloud_slb20140515 import models as slb_models
from alibabacloud_slb20140515.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.request import DaraRequest
from slb_testlib import AK_ID, AK_SECRET, LB_ID, REGION, base_config

# Alibaba Cloud's worked example of signature method V3 ("Request syntax and signature method V3",
# section "Signature example", fixed parameter values):
#   https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature
#   (Chinese: https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature)
# POST / of ecs RunInstances with AccessKey YourAccessKeyId / YourAccessKeySecret; the page gives
# the hashed canonical request and the final Authorization header reproduced below.
DOC_QUERY = [
    ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
    ("RegionId", "cn-shanghai"),
]
DOC_HEADERS = {
    "host": ["ecs.cn-shanghai.aliyuncs.com"],
    "x-acs-action": ["RunInstances"],
    "x-acs-content-sha256": ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    "x-acs-date": ["2023-10-26T10:22:32Z"],
    "x-acs-signature-nonce": ["3156853299f313e23d1673dc12e1703d"],
    "x-acs-version": ["2014-05-26"],
}
DOC_SIGNED = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
DOC_HASHED_CANONICAL = "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
DOC_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
DOC_AUTHORIZATION = (
    f"ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={DOC_SIGNED},"
    f"Signature={DOC_SIGNATURE}"
)
DOC_TIME = calendar.timegm((2023, 10, 26, 10, 22, 32, 0, 0, 0))


def doc_headers(authorization: str = DOC_AUTHORIZATION) -> dict[str, list[str]]:
    return {**DOC_HEADERS, "authorization": [authorization]}


def test_documented_example_hashed_canonical_request_and_signature():
    canonical = d.canonical_request(
        "POST", "/", DOC_QUERY, DOC_HEADERS, DOC_SIGNED.split(";"), d.EMPTY_SHA256
    )
    assert d.string_to_sign(canonical) == f"ACS3-HMAC-SHA256\n{DOC_HASHED_CANONICAL}"
    assert d.signature("YourAccessKeySecret", canonical) == DOC_SIGNATURE


def test_verifier_accepts_the_documented_request():
    key = d.verify_signature(
        "POST", "/", DOC_QUERY, doc_headers(), b"", {"YourAccessKeyId": "YourAccessKeySecret"},
        now=DOC_TIME,
    )  # fmt: skip
    assert key == "YourAccessKeyId"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda q, h: h.update(authorization=[DOC_AUTHORIZATION.replace("0656", "0657")]),
         "SignatureDoesNotMatch"),
        (lambda q, h: q.__setitem__(1, ("RegionId", "cn-beijing")), "SignatureDoesNotMatch"),
        (lambda q, h: h.update({"x-acs-action": ["DeleteInstance"]}), "SignatureDoesNotMatch"),
        (lambda q, h: h.pop("authorization"), "IncompleteSignature"),
        (lambda q, h: h.update(authorization=["acs YourAccessKeyId:abc"]), "IncompleteSignature"),
        (lambda q, h: h.update(authorization=[DOC_AUTHORIZATION.replace(";x-acs-date", "")]),
         "IncompleteSignature"),
        (lambda q, h: h.update(authorization=[DOC_AUTHORIZATION.replace("YourAccessKey", "No")]),
         "InvalidAccessKeyId.NotFound"),
    ],
)  # fmt: skip
def test_verifier_refuses_tampered_documented_request(mutate, code):
    query, headers = list(DOC_QUERY), doc_headers()
    mutate(query, headers)
    with pytest.raises(d.ApiError) as err:
        d.verify_signature(
            "POST",
            "/",
            query,
            headers,
            b"",
            {"YourAccessKeyId": "YourAccessKeySecret"},
            now=DOC_TIME,
        )
    assert err.value.code == code


def test_verifier_refuses_a_stale_date():
    with pytest.raises(d.ApiError) as err:
        d.verify_signature(
            "POST", "/", DOC_QUERY, doc_headers(), b"", {"YourAccessKeyId": "YourAccessKeySecret"},
            now=DOC_TIME + 3600,
        )  # fmt: skip
    assert err.value.code == "InvalidTimeStamp.Expired"


def test_verifier_refuses_a_body_that_does_not_match_its_hash():
    with pytest.raises(d.ApiError) as err:
        d.verify_signature(
            "POST", "/", DOC_QUERY, doc_headers(), b"x", {"YourAccessKeyId": "YourAccessKeySecret"},
            now=DOC_TIME,
        )  # fmt: skip
    assert err.value.code == "SignatureDoesNotMatch"


def sdk_signed(query: dict[str, str], secret: str, body: bytes = b"") -> tuple[DaraRequest, str]:
    """A request signed by the SDK's own signer (the code path do_request uses)."""
    req = DaraRequest()
    req.method = "POST"
    req.pathname = "/"
    req.query = dict(query)
    req.headers = {
        "host": "slb.aliyuncs.com",
        "x-acs-version": "2014-05-15",
        "x-acs-action": "AddBackendServers",
        "user-agent": "test",
        "x-acs-date": Utils.get_timestamp(),
        "x-acs-signature-nonce": Utils.get_nonce(),
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    payload = hashlib.sha256(body).hexdigest()
    req.headers["Authorization"] = Utils.get_authorization(
        req, "ACS3-HMAC-SHA256", payload, AK_ID, secret
    )
    return req, payload


def as_server_view(req: DaraRequest) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    return list(req.query.items()), {k.lower(): [v] for k, v in req.headers.items()}


def test_verifier_accepts_what_the_sdk_signs_including_json_and_spaces():
    query = {
        "LoadBalancerId": LB_ID,
        "RegionId": REGION,
        "BackendServers": json.dumps(
            [{"ServerId": "i-1", "Weight": "5", "Description": "a b*c~/"}]
        ),
    }
    req, _ = sdk_signed(query, AK_SECRET)
    pairs, headers = as_server_view(req)
    assert d.verify_signature("POST", "/", pairs, headers, b"", {AK_ID: AK_SECRET}) == AK_ID


def test_verifier_refuses_what_the_sdk_signs_with_another_secret():
    req, _ = sdk_signed({"LoadBalancerId": LB_ID}, "not-the-secret")
    pairs, headers = as_server_view(req)
    with pytest.raises(d.ApiError) as err:
        d.verify_signature("POST", "/", pairs, headers, b"", {AK_ID: AK_SECRET})
    assert err.value.code == "SignatureDoesNotMatch"


def sdk_client(double, secret: str = AK_SECRET, key_id: str = AK_ID) -> Client:
    return Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            region_id=REGION,
            endpoint=double.endpoint,
            protocol="http",
        )
    )


def describe(client: Client) -> dict:
    request = slb_models.DescribeLoadBalancerAttributeRequest(
        load_balancer_id=LB_ID, region_id=REGION
    )
    return client.describe_load_balancer_attribute(request).body.to_map()


def test_sdk_over_http_is_accepted(start_double):
    double = start_double(base_config({}))
    body = describe(sdk_client(double))
    assert body["LoadBalancerId"] == LB_ID
    assert [c["ok"] for c in double.calls()] == [True]


@pytest.mark.parametrize(
    ("secret", "key_id", "code", "status"),
    [
        ("wrong-secret", AK_ID, "SignatureDoesNotMatch", 400),
        (AK_SECRET, "LTAI5tUnknownKey", "InvalidAccessKeyId.NotFound", 404),
    ],
)
def test_sdk_over_http_with_bad_credentials_is_refused(start_double, secret, key_id, code, status):
    double = start_double(base_config({}))
    with pytest.raises(AlibabaCloudException) as err:
        describe(sdk_client(double, secret=secret, key_id=key_id))
    assert err.value.code == code
    assert err.value.status_code == status
    assert err.value.data["RequestId"]
    assert [(c["code"], c["status"]) for c in double.calls()] == [(code, status)]


def test_unsigned_http_request_is_incomplete_signature(start_double):
    double = start_double(base_config({}))
    req = urllib.request.Request(
        f"{double.url}/?LoadBalancerId={LB_ID}",
        method="POST",
        headers={"x-acs-action": "DescribeLoadBalancerAttribute", "x-acs-version": "2014-05-15"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    doc = json.load(err.value)
    assert err.value.code == 400
    assert doc["Code"] == "IncompleteSignature"
    assert doc["RequestId"] and doc["Message"]


def test_replayed_nonce_is_refused(start_double):
    double = start_double(base_config({}))
    req, _ = sdk_signed({"LoadBalancerId": LB_ID, "RegionId": REGION}, AK_SECRET)
    req.headers["x-acs-action"] = "DescribeLoadBalancerAttribute"
    payload = req.headers["x-acs-content-sha256"]
    del req.headers["Authorization"]
    req.headers["host"] = double.endpoint
    req.headers["Authorization"] = Utils.get_authorization(
        req, "ACS3-HMAC-SHA256", payload, AK_ID, AK_SECRET
    )
    url = f"{double.url}/?LoadBalancerId={LB_ID}&RegionId={REGION}"
    statuses = []
    for _ in range(2):
        http_req = urllib.request.Request(url, method="POST", headers=req.headers)
        try:
            with urllib.request.urlopen(http_req, timeout=5) as resp:
                statuses.append((resp.status, None))
        except urllib.error.HTTPError as err:
            statuses.append((err.code, json.load(err)["Code"]))
    assert statuses == [(200, None), (400, "SignatureNonceUsed")]


def test_sdk_timestamp_format_is_what_the_verifier_parses():
    stamp = Utils.get_timestamp()
    assert abs(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.time()) < 5
