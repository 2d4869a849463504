// RaftCore
