"""Write docs/cli.md from the CLI's own --help texts: `python docs/make_cli_docs.py`."""

from pathlib import Path

from click.testing import CliRunner

from sheetprop.cli import main

OUT = Path(__file__).with_name("cli.md")


def render() -> str:
    runner = CliRunner()
    parts = ["# sheetprop command line\n", "Generated from `--help` by `python docs/make_cli_docs.py`; do not edit.\n"]
    commands = [[]] + [[name] for name in sorted(main.commands)]
    for args in commands:
        title = " ".join(["sheetprop", *args])
        text = runner.invoke(main, [*args, "--help"], prog_name="sheetprop", terminal_width=100).output
        parts.append(f"## {title}\n\n```\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
