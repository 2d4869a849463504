import Foundation
import Testing
import TestSupport

@testable import Storage

@Suite struct SegmentedLogTests {
    let dir = makeTemporaryDirectory("raftlite-log")

    func records(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 10) -> [LogRecord] {
        range.map { i in LogRecord(index: i, term: term, kind: UInt8(i % 3), data: Array(repeating: UInt8(truncatingIfNeeded: i), count: size)) }
    }

    func lastSegmentPath() throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        return dir + "/" + names.last!
    }

    @Test func appendReadAndReopen() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try SegmentedLog(directory: dir)
            #expect(log.isEmpty && log.lastIndex == 0)
            try log.append(records(1...100))
            #expect(log.firstIndex == 1 && log.lastIndex == 100)
            #expect(try log.entries(from: 10, to: 12) == Array(records(10...12)))
            #expect(log.term(at: 50) == 1)
            #expect(log.term(at: 101) == nil)
        }
        let reopened = try SegmentedLog(directory: dir)
        #expect(reopened.lastIndex == 100)
        #expect(reopened.tornBytesCut == 0)
        #expect(try reopened.entries(from: 1, to: 100) == records(1...100))
    }

    @Test func segmentsRollOverAndReadAcross() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try SegmentedLog(directory: dir, segmentSizeLimit: 1024)
        for batch in 0..<20 {
            let start = UInt64(batch * 10 + 1)
            try log.append(records(start...(start + 9), size: 40))
        }
        #expect(log.segmentCount > 5)
        #expect(try log.entries(from: 1, to: 200) == records(1...200, size: 40))
        let reopened = try SegmentedLog(directory: dir, segmentSizeLimit: 1024)
        #expect(try reopened.entries(from: 95, to: 105) == records(95...105, size: 40))
    }

    @Test func conflictingSuffixIsReplaced() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try SegmentedLog(directory: dir, segmentSizeLimit: 512)
        try log.append(records(1...50, term: 1))
        // A new leader's entries from index 31 overwrite the old ones (Raft §5.3).
        try log.append(records(31...40, term: 2))
        #expect(log.lastIndex == 40)
        #expect(log.term(at: 30) == 1 && log.term(at: 31) == 2)
        let reopened = try SegmentedLog(directory: dir, segmentSizeLimit: 512)
        #expect(reopened.lastIndex == 40)
        #expect(try reopened.entries(from: 29, to: 40) == records(29...30, term: 1) + records(31...40, term: 2))
    }

    @Test func nonContiguousAppendIsRejected() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try SegmentedLog(directory: dir)
        try log.append(records(1...5))
        #expect(throws: StorageError.self) { try log.append(records(7...8)) }
        #expect(throws: StorageError.self) {
            try log.append([LogRecord(index: 6, term: 1), LogRecord(index: 8, term: 1)])
        }
        #expect(log.lastIndex == 5)
    }

    @Test func compactionDropsWholeSegmentsAndAnEmptyLogStartsAnywhere() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try SegmentedLog(directory: dir, segmentSizeLimit: 600)
        for b in 0..<10 { try log.append(records(UInt64(b * 10 + 1)...UInt64(b * 10 + 10), size: 30)) }
        let before = log.segmentCount
        try log.compact(upTo: 55)
        #expect(log.segmentCount < before)
        #expect(log.firstIndex <= 56 && log.firstIndex > 1)
        #expect(try log.entries(from: 56, to: 100) == records(56...100, size: 30))
        let reopened = try SegmentedLog(directory: dir, segmentSizeLimit: 600)
        #expect(reopened.firstIndex == log.firstIndex && reopened.lastIndex == 100)
        try reopened.compact(upTo: 100)
        #expect(reopened.isEmpty)
        try reopened.append(records(501...502))  // after installing a snapshot at 500
        #expect(reopened.firstIndex == 501 && reopened.lastIndex == 502)
    }

    @Test func tornTailIsCutOnReopen() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try SegmentedLog(directory: dir)
            try log.append(records(1...10))
        }
        // A crash in the middle of writing the last record: its last 5 bytes never reached the disk.
        let path = try lastSegmentPath()
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(truncate(path, off_t(size - 5)) == 0)
        let log = try SegmentedLog(directory: dir)
        #expect(log.lastIndex == 9)
        #expect(log.tornBytesCut > 0)
        #expect(try log.entries(from: 1, to: 9) == records(1...9))
        try log.append(records(10...11))
        #expect(try SegmentedLog(directory: dir).lastIndex == 11)
    }

    @Test func tornTailWithGarbageIsCut() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try SegmentedLog(directory: dir)
            try log.append(records(1...10))
        }
        let handle = FileHandle(forWritingAtPath: try lastSegmentPath())!
        handle.seekToEndOfFile()
        handle.write(Data([0x30, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]))
        try handle.close()
        let log = try SegmentedLog(directory: dir)
        #expect(log.lastIndex == 10)
        #expect(log.tornBytesCut == 11)
    }

    @Test func corruptRecordInTheMiddleStopsLoudly() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try SegmentedLog(directory: dir)
            try log.append(records(1...10))
        }
        // Flip one payload byte of the third record; valid records follow it.
        let path = try lastSegmentPath()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let recordSize = 8 + 17 + 10
        bytes[16 + 2 * recordSize + 8 + 20] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SegmentedLog(directory: dir)
        } throws: { error in
            guard case .corrupt(_, let offset, let reason) = error as? StorageError else { return false }
            return offset == 16 + 2 * recordSize && reason == "checksum mismatch"
        }
    }

    @Test func damageInAnOlderSegmentIsCorruption() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try SegmentedLog(directory: dir, segmentSizeLimit: 256)
            for b in 0..<6 { try log.append(records(UInt64(b * 5 + 1)...UInt64(b * 5 + 5), size: 20)) }
            #expect(log.segmentCount > 2)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        let first = dir + "/" + names[0]
        let size = try FileManager.default.attributesOfItem(atPath: first)[.size] as! Int
        #expect(truncate(first, off_t(size - 3)) == 0)
        #expect(throws: StorageError.self) { _ = try SegmentedLog(directory: dir, segmentSizeLimit: 256) }
    }

    @Test func notALogSegmentIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(repeating: 0x41, count: 64).write(to: URL(fileURLWithPath: dir + "/00000000000000000001.seg"))
        #expect(throws: StorageError.self) { _ = try SegmentedLog(directory: dir) }
    }
}

@Suite struct StableStoreTests {
    let dir = makeTemporaryDirectory("raftlite-state")

    @Test func saveLoadRoundTrip() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StableStore(path: dir + "/raft/state")
        #expect(try store.load() == HardState())
        try store.save(HardState(term: 7, vote: "node-2", commit: 42))
        #expect(try StableStore(path: dir + "/raft/state").load() == HardState(term: 7, vote: "node-2", commit: 42))
        try store.save(HardState(term: 8, vote: ""))
        #expect(try store.load() == HardState(term: 8, vote: "", commit: 0))
        #expect(!FileManager.default.fileExists(atPath: dir + "/raft/state.tmp"))
    }

    @Test func corruptStateIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StableStore(path: dir + "/state")
        try store.save(HardState(term: 3, vote: "a"))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/state")))
        bytes[9] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/state"))
        #expect(throws: StorageError.self) { _ = try store.load() }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/state"))
        #expect(throws: StorageError.self) { _ = try store.load() }
    }
}
