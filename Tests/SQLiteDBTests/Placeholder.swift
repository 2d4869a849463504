import Testing

@Test func placeholderSQLiteDB() {}
