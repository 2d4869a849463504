import Foundation
import Testing

@testable import Transport

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct WireFormatTests {
    @Test func handshakeLayout() {
        // "RLT1", version 1, u16 LE length 2, "n1"
        #expect(Wire.handshake(nodeID: "n1") == [0x52, 0x4C, 0x54, 0x31, 1, 2, 0, 0x6E, 0x31])
    }

    @Test func checksumIsStandardCRC32() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { crc32Update(0, $0) } == 0xCBF4_3926)
        #expect(referenceCRC32(check) == 0xCBF4_3926)
    }

    @Test func frameLayout() {
        var out: [UInt8] = []
        Wire.appendFrame(kind: .message, type: 7, payload: [1, 2, 3], to: &out)
        // length 4 (type byte + 3), kind 1, CRC of [kind, type, payload], then the body
        #expect(Array(out[0..<4]) == [4, 0, 0, 0])
        #expect(out[4] == 1)
        #expect(loadLE(UInt32.self, from: out, at: 5) == referenceCRC32([1, 7, 1, 2, 3]))
        #expect(Array(out[9...]) == [7, 1, 2, 3])

        out.removeAll()
        Wire.appendFrame(kind: .request, id: 0x0102_0304_0506_0708, type: 9, payload: [0xFF], to: &out)
        #expect(Array(out[0..<5]) == [10, 0, 0, 0, 2])
        #expect(Array(out[9...]) == [8, 7, 6, 5, 4, 3, 2, 1, 9, 0xFF])
        #expect(loadLE(UInt32.self, from: out, at: 5) == referenceCRC32([2] + Array(out[9...])))

        out.removeAll()
        Wire.appendFrame(kind: .ping, payload: [], to: &out)
        #expect(out == [0, 0, 0, 0, 5] + withUnsafeBytes(of: referenceCRC32([5]).littleEndian, Array.init))
    }

    @Test func addressParsing() throws {
        #expect(try HostPort(parsing: "127.0.0.1:4002") == HostPort(host: "127.0.0.1", port: 4002))
        #expect(try HostPort(parsing: "[::1]:0") == HostPort(host: "::1", port: 0))
        #expect(try HostPort(parsing: ":4002") == HostPort(host: "", port: 4002))
        #expect(try HostPort(parsing: "node-1.cluster:4002") == HostPort(host: "node-1.cluster", port: 4002))
        for bad in ["", "localhost", "::1:4002", "[::1]4002", "host:", "host:65536", "host:-1", "host:x"] {
            #expect(throws: TransportError.invalidAddress(bad)) { try HostPort(parsing: bad) }
        }
    }

    /// Frames written by the encoder come back from the reader intact, back to back, small and large.
    @Test func readerDecodesWhatTheEncoderWrites() throws {
        let (reader, writer) = try socketPair()
        defer {
            close(reader)
            close(writer)
        }
        let big = pattern(300_000)
        var stream = Wire.handshake(nodeID: "node-a")
        Wire.appendFrame(kind: .message, type: 3, payload: [9, 8, 7], to: &stream)
        Wire.appendFrame(kind: .request, id: 42, type: 4, payload: big, to: &stream)
        Wire.appendFrame(kind: .ping, payload: [], to: &stream)
        Wire.appendFrame(kind: .message, type: 5, payload: [], to: &stream)
        let bytes = stream
        let writerThread = Thread { try? sendAll(writer, bytes, wake: -1, timeout: 5) }
        writerThread.start()

        var frames = FrameReader(fd: reader, wake: -1, readTimeout: 5, maxFrameSize: 1 << 20, countBytes: { _ in })
        #expect(try frames.readHandshake(timeout: 5) == "node-a")
        let all: Set<FrameKind> = [.message, .request, .ping]
        let first = try frames.readFrame(accepting: all)
        #expect(first.kind == .message && first.type == 3 && first.payload == [9, 8, 7])
        let second = try frames.readFrame(accepting: all)
        #expect(second.kind == .request && second.id == 42 && second.type == 4 && second.payload == big)
        #expect(try frames.readFrame(accepting: all).kind == .ping)
        let fourth = try frames.readFrame(accepting: all)
        #expect(fourth.kind == .message && fourth.type == 5 && fourth.payload.isEmpty)
    }

    /// A header claiming more than the limit is refused from the header alone: no payload byte is awaited.
    @Test func readerRefusesOversizedLengthFromTheHeader() throws {
        let (reader, writer) = try socketPair()
        defer {
            close(reader)
            close(writer)
        }
        let header = RawFrames.header(length: 0xFFFF_FFF0, kind: FrameKind.message.rawValue)
        _ = header.withUnsafeBytes { send(writer, $0.baseAddress, $0.count, 0) }
        var frames = FrameReader(fd: reader, wake: -1, readTimeout: 5, maxFrameSize: 1 << 20, countBytes: { _ in })
        let started = Date()
        do {
            _ = try frames.readFrame(accepting: [.message])
            Issue.record("an oversized frame was accepted")
        } catch {
            guard case .oversized(0xFFFF_FFF0) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
        #expect(Date().timeIntervalSince(started) < 1)
    }

    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw TransportError.resourceUnavailable("socketpair")
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
        return (fds[0], fds[1])
    }
}
