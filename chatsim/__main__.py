from chatsim import main

main()
