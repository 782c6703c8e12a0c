"""Allow ``python -m finder``."""

from finder.cli import main

main()
