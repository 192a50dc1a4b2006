"""Help: the command list shows whole descriptions, every option says what it does, and
every command's help lists its exit codes."""

from __future__ import annotations

import click
from click.testing import CliRunner

from slapolicy.cli.main import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()
              ) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
    return out


COMMANDS = _commands(main)


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"audit", "run-due", "init", "demo", "compile", "check-data", "test", "verify",
            "sign", "keys new", "reward split", "dispute raise", "dispute decide",
            "dispute list"} <= names


def test_every_command_help_lists_exit_codes_and_every_option_has_help() -> None:
    runner = CliRunner()
    for path, cmd in [((), main), *COMMANDS]:
        result = runner.invoke(main, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "Exit codes" in result.output, f"`slapolicy {' '.join(path)} --help` has none"
        if not isinstance(cmd, click.Group):
            assert "  0  " in result.output, path  # the codes themselves, not a pointer
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert (param.help or "").strip(), f"{' '.join(path)} {param.opts[0]} has no help"


def test_the_command_list_shows_whole_first_paragraphs() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=400)
    assert result.exit_code == 0
    for name, cmd in main.commands.items():
        first = " ".join((cmd.help or "").split("\n\n")[0].split())
        assert first, name
        line = next(ln for ln in result.output.splitlines() if ln.strip().startswith(name + " "))
        assert line.strip()[len(name):].strip() == first, name
