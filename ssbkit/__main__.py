from ssbkit.cli import main

main()
