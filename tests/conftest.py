"""Fixtures shared by the test modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

#: The repository's root folder (the one holding ``simulator/`` and ``tests/``).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The model contract, in ``shared/`` beside the repository.
MODEL_MD = REPO_ROOT.parent / "shared" / "MODEL.md"


@pytest.fixture(scope="session")
def model_example_toml() -> str:
    """The example scenario file of ``shared/MODEL.md`` (its ```toml block), as text.

    Skips the test when ``shared/MODEL.md`` is not beside the repository.
    """
    if not MODEL_MD.is_file():
        pytest.skip(f"{MODEL_MD} not found: the MODEL.md example needs shared/ beside the repository")
    match = re.search(r"```toml\n(.*?)```", MODEL_MD.read_text(encoding="utf-8"), re.DOTALL)
    assert match, f"{MODEL_MD} has no ```toml block"
    return match.group(1)
