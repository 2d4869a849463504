@testable import HTTPServer
import Testing

@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("/db/query", "/db/query", ""),
        ("/db/query?q=SELECT%20*&level=strong", "/db/query", "q=SELECT%20*&level=strong"),
        ("/a%2Fb%20c+d", "/a/b c+d", ""),
        ("/bad%zzescape%4", "/bad%zzescape%4", ""),
        ("/x?", "/x", ""),
        ("/x?a=1#frag", "/x", "a=1"),
        ("http://host:4001/status?pretty", "/status", "pretty"),
        ("/caf%C3%A9", "/café", ""),
    ])
    func parses(raw: String, path: String, query: String) {
        let target = RequestTarget(raw: raw)
        #expect(target.path == path)
        #expect(target.rawQuery == query)
    }
}
