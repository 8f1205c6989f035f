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


@pytest.fixture(scope="session")
def uncertain_toml(tmp_path_factory) -> Path:
    """zhipu_base with two growth keys given as distributions (given-data methods and attribution need them)."""
    text = (REPO_ROOT / "scenarios" / "zhipu_base.toml").read_text(encoding="utf-8")
    for key, dist in (("initial = 0.66 ", '{ dist = "uniform", low = 0.4, high = 0.9 }'),
                      ("long_run = 0.35 ", '{ dist = "uniform", low = 0.2, high = 0.5 }')):
        assert text.count(key) == 1, key
        text = text.replace(key, f"{key.split('=')[0]}= {dist} ")
    path = tmp_path_factory.mktemp("uncertain") / "zhipu_uncertain.toml"
    path.write_text(text, encoding="utf-8")
    return path
