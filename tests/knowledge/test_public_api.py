"""The public API of knowledge and explain is deliberate: every exported name exists."""

from __future__ import annotations

import relapsewatch.explain as explain
import relapsewatch.knowledge as knowledge


def test_knowledge_exports_exactly_its_public_names() -> None:
    assert sorted(knowledge.__all__) == sorted(set(knowledge.__all__))
    assert all(hasattr(knowledge, name) for name in knowledge.__all__)
    assert {"options_for", "options_frame", "OptionView", "CARE_TEAM_DECIDES", "info_for",
            "info_page", "load_support", "find_advice",
            "prepare_for_readability"} <= set(knowledge.__all__)  # fmt: skip


def test_explain_exports_exactly_its_public_names() -> None:
    assert all(hasattr(explain, name) for name in explain.__all__)
    assert {"where_you_are", "Statement", "Evidence"} <= set(explain.__all__)
