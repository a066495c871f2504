from labelaudit.cli import main

main()
