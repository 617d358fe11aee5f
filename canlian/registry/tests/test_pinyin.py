"""``services.name_pinyin`` remembers each word's syllables; it must give exactly what ``lazy_pinyin`` gives."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from canlian.registry.services import name_pinyin

# Common surnames and given-name characters, many of them with several readings (曾 单 解 朴 长 尉 华 乐 …).
CHARS = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑曾单解朴长尉迟欧阳司马诸葛华乐重行查仇区盖伟芳娜秀英敏强军国建"
)
NAME = st.text(alphabet=st.sampled_from(CHARS + "·A "), min_size=1, max_size=6)


def reference(name: str) -> tuple[str, str]:
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    return "".join(syllables).lower(), "".join(s[0] for s in syllables if s).lower()


@settings(max_examples=400, deadline=None)
@given(NAME)
def test_name_pinyin_equals_lazy_pinyin(name):
    assert name_pinyin(name) == reference(name)


def test_known_names():
    assert name_pinyin("张伟") == ("zhangwei", "zw")
    for name in ("曾国藩", "单雄信", "欧阳娜娜", "长孙无忌", "尉迟恭", "阿卜杜·热合曼", "解缙"):
        assert name_pinyin(name) == reference(name)
        assert name_pinyin(name) == reference(name)  # from the cache the second time
