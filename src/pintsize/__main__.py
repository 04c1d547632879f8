from pintsize.cli import main

main()
