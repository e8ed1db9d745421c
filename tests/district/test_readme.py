"""The README's demo-login table names every demo login seed_demo creates."""

from pathlib import Path

from district.demo import DEMO_LOGINS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_starts_with_the_two_commands_and_lists_every_demo_login():
    text = README.read_text(encoding="utf-8")
    head = "\n".join(text.splitlines()[:8])
    assert "make run" in head and "make test" in head
    for login in DEMO_LOGINS:
        assert f"| `{login.username}` |" in text
        assert login.password in text
