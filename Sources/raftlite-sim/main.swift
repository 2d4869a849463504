print("raftlite-sim")
