import Testing

@Test func placeholderAPI() {}
