from chatsim.cli import main

main()
