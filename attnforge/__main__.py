"""``python -m attnforge``: the same entry as the ``attnforge`` console script."""

from attnforge.entry import main

main()
