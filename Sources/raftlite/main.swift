// The raftlite interactive SQL shell.
Shell.main()
