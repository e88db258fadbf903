"""Role nginx_lb's template on the controller: rendered with the role's defaults (and variants),
checked by this machine's nginx (`nginx -t`, skipped without it) and by assertions on the text:
the per-client rate limits (zones, exempt networks mapped to an empty key, the 429 JSON body with
Retry-After), the trusted-proxy client address, the response cache (only GET /v1/ip/<address>,
only 200s, keyed with the database generation). The live behaviour (429s for one client while
another gets none) is checked in containers: molecule/default/verify/rate_limits.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from slb_testlib import run_playbook

REPO = Path(__file__).resolve().parents[2]
ZONE = "limit_req_zone $ipgeo_rate_limit_key zone="
ROLE = REPO / "roles" / "nginx_lb"
BIN = Path(sys.executable).parent

INVENTORY = (
    "[load_balancers]\n"
    f"lb ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    "[app_nodes]\n"
    "app1 node_address=192.0.2.11\n"
    "app2 node_address=192.0.2.12\n"
)


@pytest.fixture(scope="module", autouse=True)
def controller():
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ansible-playbook)")


def render(tmp_path: Path, **extra) -> str:
    """The role's nginx.conf with its defaults and `extra`, checked by nginx when it is here."""
    conf = tmp_path / "nginx.conf"
    generation = tmp_path / "generation.conf"
    generation.write_text('map $host $ipgeo_cache_generation {\n    default "initial";\n}\n')
    plays = [
        {
            "name": "Render",
            "hosts": "lb",
            "gather_facts": False,
            "vars_files": [str(ROLE / "defaults" / "main.yml")],
            "tasks": [
                {
                    "name": "Render the configuration",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates/etc/nginx/nginx.conf.j2"),
                        "dest": str(conf),
                        "mode": "0644",
                    },
                    "vars": {
                        "nginx_lb_access_log": str(tmp_path / "access.log"),
                        "nginx_lb_cache_path": str(tmp_path / "cache"),
                        "nginx_lb_cache_generation_file": str(generation),
                        **extra,
                    },
                }
            ],
        }
    ]
    proc, output = run_playbook(tmp_path, plays, inventory=INVENTORY)
    assert proc.returncode == 0, json.dumps(output)[-3000:] + proc.stderr
    text = conf.read_text()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx and Path("/etc/nginx/mime.types").exists():
        check = subprocess.run(
            [nginx, "-t", "-q", "-c", str(conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        # Not root (no www-data switch, no /var/log/nginx): only a syntax verdict is possible.
        assert check.returncode == 0 or "Permission denied" in check.stderr, check.stderr
        assert "emerg" not in check.stderr or "Permission denied" in check.stderr, check.stderr
    return text


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def location(text: str, head: str) -> list[str]:
    """The lines of the location block that starts with `head` (one level of braces)."""
    lines = lines_of(text)
    start = lines.index(head)
    end = lines.index("}", start)
    return lines[start:end]


def test_rate_limits_by_default(tmp_path):
    text = render(tmp_path)
    lines = lines_of(text)
    assert ZONE + "ipgeo_per_client:10m rate=100r/s;" in lines
    assert ZONE + "ipgeo_per_client_batch:10m rate=5r/s;" in lines
    assert "limit_req_status 429;" in lines
    # Exempt networks: geo -> 1 -> an empty key, which limit_req does not count.
    geo = location(text, "geo $ipgeo_rate_limit_exempt {")
    assert {"default 0;", "127.0.0.0/8 1;", "::1/128 1;"} <= set(geo)
    key = location(text, "map $ipgeo_rate_limit_exempt $ipgeo_rate_limit_key {")
    assert {"default $binary_remote_addr;", '1 "";'} <= set(key)
    assert "limit_req zone=ipgeo_per_client burst=200 nodelay;" in location(text, "location / {")
    assert "limit_req zone=ipgeo_per_client_batch burst=10 nodelay;" in location(
        text, "location = /v1/batch {"
    )
    assert "error_page 429 /.ipgeo-error/429;" in lines
    refusal = location(text, "location = /.ipgeo-error/429 {")
    assert "internal;" in refusal
    assert "add_header Retry-After 1 always;" in refusal
    ret = next(line for line in refusal if line.startswith("return 429 "))
    body = json.loads(ret[len("return 429 '") : -len("\\n';")])
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    # The error pages themselves are not limited (a refusal never refuses its own body).
    assert not any("limit_req " in line for line in refusal)
    # The LB is the edge by default: no client header is trusted.
    assert not any(line.startswith(("set_real_ip_from", "real_ip_header")) for line in lines)


def test_rate_limits_can_be_turned_off(tmp_path):
    text = render(tmp_path, nginx_lb_rate_limit_enabled=False)
    assert "limit_req" not in text
    assert "/.ipgeo-error/429" not in text


def test_variables_reach_the_configuration(tmp_path):
    text = render(
        tmp_path,
        nginx_lb_rate_limit_rate="7r/s",
        nginx_lb_rate_limit_burst=3,
        nginx_lb_rate_limit_batch_rate="1r/m",
        nginx_lb_rate_limit_batch_burst=0,
        nginx_lb_rate_limit_exempt=["10.0.0.0/8"],
        nginx_lb_rate_limit_retry_after=5,
        nginx_lb_real_ip_from=["192.0.2.0/24", "2001:db8::/32"],
    )
    lines = lines_of(text)
    assert ZONE + "ipgeo_per_client:10m rate=7r/s;" in lines
    assert ZONE + "ipgeo_per_client_batch:10m rate=1r/m;" in lines
    assert "limit_req zone=ipgeo_per_client burst=3 nodelay;" in lines
    assert "limit_req zone=ipgeo_per_client_batch nodelay;" in lines  # nginx refuses burst=0
    geo = location(text, "geo $ipgeo_rate_limit_exempt {")
    assert "10.0.0.0/8 1;" in geo
    assert "127.0.0.0/8 1;" not in geo
    assert "add_header Retry-After 5 always;" in lines
    assert {"set_real_ip_from 192.0.2.0/24;", "set_real_ip_from 2001:db8::/32;"} <= set(lines)
    assert "real_ip_header X-Forwarded-For;" in lines
    assert "real_ip_recursive on;" in lines


def test_defaults_file_is_yaml_with_the_new_variables():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["nginx_lb_rate_limit_enabled"] is True
    assert defaults["nginx_lb_real_ip_from"] == []
    assert defaults["nginx_lb_cache_enabled"] is True


def test_the_response_cache_holds_single_lookups_only(tmp_path):
    text = render(tmp_path)
    lines = lines_of(text)
    assert f"include {tmp_path / 'generation.conf'};" in lines
    path = next(line for line in lines if line.startswith("proxy_cache_path "))
    assert "keys_zone=ipgeo_cache:64m" in path
    assert "max_size=256m" in path
    assert "inactive=10m" in path
    cached = location(text, "location ~ ^/v1/ip/[^/]+$ {")
    assert "proxy_cache ipgeo_cache;" in cached
    # The generation first: a new one (update_db.yml, rollback_db.yml) misses every old answer.
    assert 'proxy_cache_key "$ipgeo_cache_generation $request_uri";' in cached
    assert "proxy_cache_methods GET HEAD;" in cached
    assert "proxy_cache_bypass $ipgeo_cache_bypass;" in cached
    bypass = location(text, "map $http_cache_control $ipgeo_cache_bypass {")
    assert {"default 0;", "~*no-cache 1;"} <= set(bypass)
    # Only 200s, whatever the node's Cache-Control says (errors carry none, but never trust it).
    assert "proxy_cache_valid 200 10m;" in cached
    assert any(line.startswith("proxy_ignore_headers Cache-Control") for line in cached)
    assert "add_header X-Cache-Status $upstream_cache_status always;" in cached
    assert "limit_req zone=ipgeo_per_client burst=200 nodelay;" in cached
    assert "proxy_pass http://ipgeo_app;" in cached
    # Everything else is never cached: the caller's own address, batch, the rest.
    for head in ("location / {", "location = /v1/batch {"):
        assert not any(line.startswith("proxy_cache") for line in location(text, head))
    assert sum(line == "proxy_cache ipgeo_cache;" for line in lines) == 1
    # The regex matches an address and nothing else.
    pattern = re.compile(r"^/v1/ip/[^/]+$")
    assert pattern.match("/v1/ip/8.8.8.8")
    assert pattern.match("/v1/ip/2001:4860:4860::8888")
    assert not pattern.match("/v1/ip")
    assert not pattern.match("/v1/ip/")
    assert not pattern.match("/v1/ip/8.8.8.8/x")
    assert not pattern.match("/v1/batch")


def test_the_response_cache_can_be_turned_off(tmp_path):
    text = render(tmp_path, nginx_lb_cache_enabled=False)
    assert "proxy_cache" not in text
    assert "ipgeo_cache_generation" not in text
    assert "X-Cache-Status" not in text


def test_tls_renders_only_when_enabled(tmp_path):
    text = render(tmp_path)
    assert "ssl" not in text
    assert "Strict-Transport-Security" not in text


@pytest.fixture
def demo_tls(tmp_path):
    """A throwaway CA and certificate from scripts/demo-tls-ca.sh (needs openssl)."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    out = tmp_path / "tls"
    subprocess.run(
        [str(REPO / "scripts" / "demo-tls-ca.sh"), str(out)], check=True, capture_output=True
    )
    return out


def test_tls_configuration(tmp_path, demo_tls):
    (tmp_path / "etc-tls").mkdir()
    text = render(
        tmp_path,
        nginx_lb_tls_enabled=True,
        nginx_lb_tls_port=8443,
        nginx_lb_tls_dir=str(demo_tls),
        nginx_lb_tls_hsts_max_age=31536000,
        nginx_lb_tls_cert_src=str(demo_tls / "lb.crt"),
        nginx_lb_tls_key_src=str(demo_tls / "lb.key"),
    )
    lines = lines_of(text)
    assert "listen 80 default_server;" in lines  # served (nginx_lb_tls_http: serve)
    assert "listen 8443 ssl http2 default_server;" in lines
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in lines
    assert f"ssl_certificate_key {demo_tls}/lb.key;" in lines
    ciphers = next(line for line in lines if line.startswith("ssl_ciphers "))
    assert "ECDHE-RSA-AES128-GCM-SHA256" in ciphers
    assert "CBC" not in ciphers and "RC4" not in ciphers
    # Over HTTPS only: plain HTTP (served by the same server) gets an empty value, sent as nothing.
    start = lines.index("map $scheme $ipgeo_hsts {")
    assert lines[start + 1 : start + 3] == ['https "max-age=31536000";', 'default "";']
    hsts = "add_header Strict-Transport-Security $ipgeo_hsts always;"
    # Everywhere an add_header of a location would hide the server's: cache and error answers.
    assert hsts in location(text, "location ~ ^/v1/ip/[^/]+$ {")
    assert hsts in location(text, "location = /.ipgeo-error/429 {")
    assert hsts in location(text, "location = /.ipgeo-error/404 {")


def test_tls_with_http_redirected(tmp_path, demo_tls):
    text = render(
        tmp_path,
        nginx_lb_tls_enabled=True,
        nginx_lb_tls_port=8443,
        nginx_lb_tls_dir=str(demo_tls),
        nginx_lb_tls_http="redirect",
        nginx_lb_tls_cert_src=str(demo_tls / "lb.crt"),
        nginx_lb_tls_key_src=str(demo_tls / "lb.key"),
    )
    lines = lines_of(text)
    assert lines.count("listen 80 default_server;") == 1
    assert "return 301 https://$host:8443$request_uri;" in lines
    assert "Strict-Transport-Security" not in text  # nginx_lb_tls_hsts_max_age 0
