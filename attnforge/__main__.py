from attnforge.cli import main

main()
