from license_analyzer.cli import main

main()
