"""``python -m attnforge``: the CLI (a Ctrl-C while it is still being imported ends quietly too)."""

try:
    from attnforge.cli import main
except KeyboardInterrupt:
    import sys

    sys.stderr.write("attnforge: interrupted\n")
    raise SystemExit(130) from None

main()
