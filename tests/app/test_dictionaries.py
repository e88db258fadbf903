"""The built-in code dictionaries (ipgeo.dictionaries): names real Chinese databases use."""

from __future__ import annotations

import pytest
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
