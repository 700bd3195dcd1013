from screenalytics.cli import main

main()
