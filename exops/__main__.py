from exops.cli.app import main

main()
