print("raftlited")
