"""CMDB error codes and their zh/en message templates (bk-cmdb resources/errors).

Boundary: text only.  `render(code, lang, args)` reproduces Go's
`fmt.Sprintf(template, args...)` for the few templates the emulator uses,
including Go's `%!(EXTRA ...)` / `%!s(int=...)` artefacts in English.
"""

from __future__ import annotations

from dataclasses import dataclass

SUCCESS = 0
NO_PERMISSION = 9900403
JSON_UNMARSHAL_FAILED = 1199000
PARAMS_INVALID = 1199006
PARAMS_NEED_STRING = 1199007
PARAMS_NEED_INT = 1199009
PARAMS_NEED_SET = 1199010
PARAMS_IS_INVALID = 1199011
OVER_LIMIT = 1199015
NOT_FOUND = 1199019
VALUE_EXCEED_MAX = 1199073
UNKNOWN_ERROR = 1199998
BUILT_IN_SET = 1101098
SET_NAME_DUPLICATED = 1101108

# code -> (zh template, en template); "{0}", "{1}" are the Sprintf arguments.
TEMPLATES: dict[int, tuple[str, str]] = {
    SUCCESS: ("success", "success"),
    NO_PERMISSION: ("没有操作的权限", "Do not have access permission."),
    JSON_UNMARSHAL_FAILED: ("反序列化JSON数据失败", "Deserializing JSON data failed"),
    PARAMS_INVALID: ("'{0}' 数据参数校验不通过", "'{0}' data parameter verification does not pass"),
    PARAMS_NEED_STRING: ("'{0}' 必须为字符串类型", "'{0}' must be a string type"),
    PARAMS_NEED_INT: ("'{0}' 参数必须是整型", "'{0}' parameters must be integral"),
    PARAMS_NEED_SET: ("'{0}' 未赋值", "'{0}' unassigned"),
    PARAMS_IS_INVALID: ("'{0}' 参数无效或不存在", "'{0}' the parameter is invalid or does not exist"),
    # The en template has no %s, so Go appends the argument as %!(EXTRA ...).
    OVER_LIMIT: ("'{0}' 数据越界", "Data out of bounds%!(EXTRA string={0})"),
    NOT_FOUND: ("未找到相关数据", "No relevant data found"),
    # en template is "%s field exceeds maximum value %s" given an int.
    VALUE_EXCEED_MAX: ("字段{0}超过最大值{1}", "{0} field exceeds maximum value %!s(int={1})"),
    BUILT_IN_SET: ("禁止删除或更新内置集群/模块", "forbidden remove or update built in set or module"),
    SET_NAME_DUPLICATED: ("已经存在同名的集群", "the same set name exist"),
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
    """Render the template of `code` in `lang` with Go-like argument handling."""
    zh, en = TEMPLATES[code]
    template = en if lang == "en" else zh
    texts = [
        (a.en if lang == "en" else a.zh) if isinstance(a, Localized) else str(a) for a in args
    ]
    return template.format(*texts)
