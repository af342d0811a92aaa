"""``python -m ifnscope``: the same as the ``ifnscope`` command."""

from ifnscope.cli import run

run()
