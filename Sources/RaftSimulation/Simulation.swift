import RaftCore
