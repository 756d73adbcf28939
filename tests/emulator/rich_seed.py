"""A seed whose set model holds every emulated attribute type, and a set template attribute.

Boundary: data only; `conftest.py` starts the `rich` emulators from it.
"""

from __future__ import annotations

from typing import Any

OPTS = [{"id": "a", "name": "甲", "type": "text", "is_default": True},
        {"id": "b", "name": "乙", "type": "text", "is_default": True},
        {"id": "c", "name": "丙", "type": "text", "is_default": False}]
ONE = [{"id": "a", "name": "甲", "type": "text", "is_default": True},
       {"id": "b", "name": "乙", "type": "text", "is_default": False}]
RICH_SEED: dict[str, Any] = {
    "businesses": [{"bk_biz_id": 1, "bk_biz_name": "资源池", "default": 1}, {"bk_biz_id": 2, "bk_biz_name": "蓝鲸"},
                   {"bk_biz_id": 3, "bk_biz_name": "游戏"}],
    "set_templates": [{"id": 1, "bk_biz_id": 2, "name": "tpl-web",
                       "service_templates": [{"id": 1, "name": "svc-nginx", "service_category_id": 2}],
                       "attributes": [{"bk_property_id": "e", "bk_property_value": "b"}]}],
    "set_attributes": [
        {"bk_property_id": "sc", "bk_property_name": "短文本", "bk_property_type": "singlechar"},
        {"bk_property_id": "sc_re", "bk_property_name": "小写", "bk_property_type": "singlechar",
         "option": "^[a-z]+$", "default": "abc"},
        {"bk_property_id": "sc_digit", "bk_property_name": "含数字", "bk_property_type": "singlechar", "option": "[0-9]"},
        {"bk_property_id": "lc", "bk_property_name": "长文本", "bk_property_type": "longchar"},
        {"bk_property_id": "lc_re", "bk_property_name": "L开头", "bk_property_type": "longchar", "option": "^L"},
        {"bk_property_id": "i_any", "bk_property_name": "任意整数", "bk_property_type": "int", "option": ""},
        {"bk_property_id": "i_pos", "bk_property_name": "正整数", "bk_property_type": "int", "option": {"min": "1"}},
        {"bk_property_id": "i_num", "bk_property_name": "小整数", "bk_property_type": "int",
         "option": {"min": -5, "max": 5}, "default": 3},
        {"bk_property_id": "f", "bk_property_name": "浮点", "bk_property_type": "float",
         "option": {"min": "0.5", "max": "10"}, "default": 1.5},
        {"bk_property_id": "f_open", "bk_property_name": "任意浮点", "bk_property_type": "float", "option": ""},
        {"bk_property_id": "e", "bk_property_name": "枚举", "bk_property_type": "enum", "option": ONE},
        {"bk_property_id": "em", "bk_property_name": "多选", "bk_property_type": "enummulti", "option": OPTS,
         "ismultiple": True},
        {"bk_property_id": "em1", "bk_property_name": "单选多", "bk_property_type": "enummulti", "option": ONE},
        {"bk_property_id": "eq", "bk_property_name": "引用", "bk_property_type": "enumquote", "ismultiple": True,
         "option": [{"bk_obj_id": "biz", "bk_inst_id": 1, "type": "int"}, {"bk_obj_id": "biz", "bk_inst_id": 2, "type": "int"}]},
        {"bk_property_id": "eq1", "bk_property_name": "单引用", "bk_property_type": "enumquote",
         "option": [{"bk_obj_id": "biz", "bk_inst_id": 2, "type": "int"}]},
        {"bk_property_id": "d", "bk_property_name": "日期", "bk_property_type": "date", "default": "2024-01-31"},
        {"bk_property_id": "t", "bk_property_name": "时间", "bk_property_type": "time", "default": "2024-01-31 12:00:00"},
        {"bk_property_id": "u", "bk_property_name": "用户", "bk_property_type": "objuser", "ismultiple": False,
         "default": "admin"},
        {"bk_property_id": "um", "bk_property_name": "多用户", "bk_property_type": "objuser"},
        {"bk_property_id": "tz", "bk_property_name": "时区", "bk_property_type": "timezone", "default": "Asia/Shanghai"},
        {"bk_property_id": "b", "bk_property_name": "开关", "bk_property_type": "bool"},
        {"bk_property_id": "l", "bk_property_name": "列表", "bk_property_type": "list", "option": ["x", "y"],
         "default": "y"},
        {"bk_property_id": "o", "bk_property_name": "组织", "bk_property_type": "organization"},
        {"bk_property_id": "o1", "bk_property_name": "单组织", "bk_property_type": "organization", "ismultiple": False},
        {"bk_property_id": "it", "bk_property_name": "表格", "bk_property_type": "innertable",
         "option": {"header": [{"bk_property_id": "c1", "bk_property_name": "列", "bk_property_type": "singlechar"}],
                    "default": []}},
        {"bk_property_id": "hidden", "bk_property_name": "隐藏", "bk_property_type": "singlechar", "bk_isapi": True},
        {"bk_property_id": "ne", "bk_property_name": "只读", "bk_property_type": "singlechar", "editable": False},
        {"bk_property_id": "g3", "bk_property_name": "三号", "bk_property_type": "singlechar", "bk_biz_id": 3},
    ],
}
