"""``python -m shared.legacy import|compare ...``: the cut-over commands, without ``dr``."""

import click

from shared.console.legacy import compare_command, import_command

main = click.Group("python -m shared.legacy", commands=[import_command, compare_command])

if __name__ == "__main__":
    main()
