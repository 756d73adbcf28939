"""CMDB error codes and their zh/en message templates (bk-cmdb resources/errors).

Boundary: text only.  The templates are the real Go ones (`%s`, `%d`), and
`render(code, lang, args)` is Go's `fmt.Sprintf(template, args...)`
(`golang.sprintf`), so English 1199015 reads `Data out of bounds%!(EXTRA
string=集群名)` and 1199089 `…1~%!d(MISSING)…` exactly as the research says
(cmdb_model_attributes.md §2.1 rendering, §2.4; cmdb_create_set.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .golang import sprintf

SUCCESS = 0
NO_PERMISSION = 9900403
JSON_UNMARSHAL_FAILED = 1199000
PARAMS_INVALID = 1199006
PARAMS_NEED_STRING = 1199007
PARAMS_NEED_INT = 1199009
PARAMS_NEED_SET = 1199010
PARAMS_IS_INVALID = 1199011
OVER_LIMIT = 1199015
REGEX_FAILED = 1199016
NOT_FOUND = 1199019
NEED_TIMEZONE = 1199024
NEED_BOOL = 1199025
VALUE_EXCEED_MAX = 1199073
LIST_OPTION_FAILED = 1199080
MODIFY_FORBIDDEN = 1199083
UNEXPECTED_TYPE = 1199085
ARRAY_LENGTH = 1199089
SINGLE_CHOICE = 1199092
UNKNOWN_ERROR = 1199998
BUILT_IN_SET = 1101098
SET_NAME_DUPLICATED = 1101108
MAINLINE_REQUIRED = 1101092

# code -> (zh template, en template), verbatim from common.json / topo_server.json.
TEMPLATES: dict[int, tuple[str, str]] = {
    SUCCESS: ("success", "success"),
    NO_PERMISSION: ("没有操作的权限", "Do not have access permission."),
    JSON_UNMARSHAL_FAILED: ("反序列化JSON数据失败", "Deserializing JSON data failed"),
    PARAMS_INVALID: ("'%s' 数据参数校验不通过", "'%s' data parameter verification does not pass"),
    PARAMS_NEED_STRING: ("'%s' 必须为字符串类型", "'%s' must be a string type"),
    PARAMS_NEED_INT: ("'%s' 参数必须是整型", "'%s' parameters must be integral"),
    PARAMS_NEED_SET: ("'%s' 未赋值", "'%s' unassigned"),
    PARAMS_IS_INVALID: ("'%s' 参数无效或不存在", "'%s' the parameter is invalid or does not exist"),
    OVER_LIMIT: ("'%s' 数据越界", "Data out of bounds"),
    REGEX_FAILED: ("'%s' 字段正则校验失败", "'%s' Field regular check failed"),
    NOT_FOUND: ("未找到相关数据", "No relevant data found"),
    NEED_TIMEZONE: ("'%s' 必须为字符串类型", "'%s' must be a string type"),
    NEED_BOOL: ("'%s' 必须为bool类型", "'%s' must be boolean"),
    VALUE_EXCEED_MAX: ("字段%s超过最大值%d", "%s field exceeds maximum value %s"),
    LIST_OPTION_FAILED: ("解析属性列表内容失败", "parsing property list content failed"),
    MODIFY_FORBIDDEN: ("禁止修改字段: %s", "modify field %s forbidden"),
    UNEXPECTED_TYPE: ("未知类型：%s", "unexpected type: %s"),
    ARRAY_LENGTH: ("%s数组长度错误，数组长度必须在1~%d之间", "the length of array %s is wrong, the length must be in range 1~%d"),
    SINGLE_CHOICE: ("当前字段类型状态为单选，请设置合理数据",
                    "current field type status is single choice, please set reasonable data"),
    UNKNOWN_ERROR: ("未知或未能识别的异常", "Unknown or unrecognized error"),
    BUILT_IN_SET: ("禁止删除或更新内置集群/模块", "forbidden remove or update built in set or module"),
    SET_NAME_DUPLICATED: ("已经存在同名的集群", "the same set name exist"),
    MAINLINE_REQUIRED: ("主线模型不能新增必填字段属性", "can not add required attribute field for a mainline model"),
}


@dataclass(frozen=True)
class Localized:
    """An argument whose text depends on the language (language-key lookups)."""

    zh: str
    en: str


SET_TEMPLATE_ID_ARG = Localized("集群模板ID", "Set template ID")


class CmdbError(Exception):
    """A CMDB error: code plus Sprintf arguments, or a raw Go message (1199998)."""

    def __init__(self, code: int, *args: object, raw: str | None = None,
                 inner: CmdbError | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.args_ = args
        self.raw = raw
        self.inner = inner

    @classmethod
    def go(cls, text: str) -> CmdbError:
        """A plain Go error as topo answers it: 1199998 with the raw text as the message."""
        return cls(UNKNOWN_ERROR, raw=text)

    def message(self, lang: str) -> str:
        """The rendered message in `lang` ("en" or "zh")."""
        if self.raw is not None:
            return self.raw
        if self.inner is not None:
            return render(self.code, lang, (self.inner.message(lang),))
        return render(self.code, lang, self.args_)

    def __repr__(self) -> str:
        return f"CmdbError({self.code}, {self.message('en')!r})"


def render(code: int, lang: str, args: tuple[object, ...] = ()) -> str:
    """Render the template of `code` in `lang` as Go's fmt.Sprintf would."""
    zh, en = TEMPLATES[code]
    texts = tuple((a.en if lang == "en" else a.zh) if isinstance(a, Localized) else a for a in args)
    return sprintf(en if lang == "en" else zh, texts)
