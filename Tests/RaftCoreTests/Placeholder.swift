import Testing

@Test func placeholderRaftCore() {}
