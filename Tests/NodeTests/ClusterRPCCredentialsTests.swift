import API
import Testing

@testable import Node

/// The credentials section that cluster-service calls carry (REFERENCE §6): round trips, absence, and
/// garbage that must be refused as malformed rather than crash or be misread.
@Suite struct ClusterRPCCredentialsTests {
    func joinPayload(_ credentials: Credentials?) -> [UInt8] {
        var w = RPCWriter()
        w.string("2")
        w.string("127.0.0.1:4002")
        w.bool(true)
        w.credentials(credentials)
        return w.buffer
    }

    func decodeJoin(_ bytes: [UInt8]) throws -> (String, String, Bool, Credentials?) {
        var r = RPCReader(bytes)
        return (try r.string(), try r.string(), try r.bool(), try r.credentials().credentials)
    }

    @Test func credentialsRoundTrip() throws {
        let c = Credentials(username: "mary", password: "pä:ss\u{0}word")
        let (id, address, voter, decoded) = try decodeJoin(joinPayload(c))
        #expect(id == "2" && address == "127.0.0.1:4002" && voter)
        #expect(decoded == c)
    }

    @Test func emptyUsernameAndPasswordSurvive() throws {
        #expect(try decodeJoin(joinPayload(Credentials(username: "", password: ""))).3 == Credentials(username: "", password: ""))
    }

    @Test func anonymousIsNotMalformedUnderTry() {
        // `try?` must tell a malformed section (nil) from an anonymous one (a value whose credentials are nil).
        var anonymous = RPCReader([0])
        #expect((try? anonymous.credentials()) == SentCredentials(credentials: nil))
        var garbage = RPCReader([9])
        #expect((try? garbage.credentials()) == nil)
    }

    @Test func absentCredentialsAreAnonymous() throws {
        #expect(try decodeJoin(joinPayload(nil)).3 == nil)
        // A payload that ends before the section (a sender without credentials) is anonymous too.
        var w = RPCWriter()
        w.string("2")
        w.string("127.0.0.1:4002")
        w.bool(false)
        #expect(try decodeJoin(w.buffer).3 == nil)
    }

    @Test func unknownMarkerIsMalformed() {
        var bytes = joinPayload(nil)
        bytes[bytes.count - 1] = 7
        #expect(throws: (any Error).self) { try decodeJoin(bytes) }
    }

    @Test func trailingBytesAreMalformed() {
        #expect(throws: (any Error).self) { try decodeJoin(joinPayload(nil) + [0]) }
        #expect(throws: (any Error).self) { try decodeJoin(joinPayload(Credentials(username: "a", password: "b")) + [1, 2, 3]) }
    }

    @Test func everyTruncationIsMalformedOrAnonymousNeverWrong() throws {
        let full = joinPayload(Credentials(username: "admin", password: "secret"))
        let base = joinPayload(nil).count - 1  // where the credentials section starts
        for cut in 0..<full.count {
            let prefix = Array(full[..<cut])
            if cut == base {
                #expect(try decodeJoin(prefix).3 == nil)  // ends before the section
            } else {
                #expect(throws: (any Error).self, "cut at \(cut)") { try decodeJoin(prefix) }
            }
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? decodeJoin(bytes)
            var r = RPCReader(bytes)
            _ = try? r.credentials()
        }
    }

    @Test func unauthorizedIsRqlitesErrorText() throws {
        guard case .error(let message) = try RPCResponse.decode(RPCResponse.unauthorized.encoded) else {
            Issue.record("not an error response")
            return
        }
        #expect(message == "unauthorized")
    }
}
