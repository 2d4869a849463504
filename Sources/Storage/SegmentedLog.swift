#if canImport(Glibc)
    import Glibc
#endif

/// One entry of the Raft log as stored: position, term, kind and an opaque payload.
public struct LogRecord: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    /// The entry type as the Raft layer defines it (normal, configuration change, ...).
    public var kind: UInt8
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, kind: UInt8 = 0, data: [UInt8] = []) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }
}

/// The Raft log as a directory of append-only segment files.
///
/// ## Format
/// A segment is named by the index of its first entry (`00000000000000000001.seg`, 20 digits) and starts
/// with a 16-byte header: the magic `RLITELOG`, a little-endian UInt32 format version (1), and 4 zero bytes.
/// Records follow back to back:
///
/// ```
/// u32 LE payload length | u32 LE CRC-32 of payload | payload = u64 LE index, u64 LE term, u8 kind, data
/// ```
///
/// A header of 8 zero bytes marks the end of data (room for preallocated, zero-filled segments).
///
/// ## Durability
/// `append` writes a whole batch with one `pwrite` and, when asked, makes it durable with ONE `fdatasync`
/// (group commit). A new segment is fsynced together with its directory before any record in it is
/// acknowledged. Truncations remove later segments first, so a crash part-way leaves a shorter, still
/// contiguous log — a valid state for Raft, since only unacknowledged or compacted entries are removed.
///
/// ## Recovery
/// Every record is length- and checksum-verified on open. In the last segment, a record that runs past
/// the end of the file, or fails its checksum with no valid record after it, is a torn write from a crash:
/// it and everything after it are cut. Anywhere else a failed record is corruption, and `open` throws.
///
/// Payloads are not kept in memory: an in-memory index maps each entry to its segment and offset, and
/// `entries(from:to:)` reads them back with `pread` (the page cache keeps recent ones hot).
///
/// Not thread-safe: owned by the Raft worker thread.
public final class SegmentedLog {
    public static let magic: [UInt8] = Array("RLITELOG".utf8)
    public static let formatVersion: UInt32 = 1
    static let segmentHeaderSize = 16
    static let recordHeaderSize = 8
    static let payloadFixedSize = 17

    struct Segment {
        var path: String
        var fd: Int32
        var firstIndex: UInt64
        /// Bytes of valid data (header + records).
        var end: Int
    }

    struct Location {
        var term: UInt64
        var segment: Int32
        var offset: Int
        /// Payload length (including the fixed 17 bytes).
        var length: Int32
        var kind: UInt8
    }

    public let directory: String
    public let segmentSizeLimit: Int
    private var segments: [Segment] = []
    /// `locations[i]` describes entry `firstIndex + i`.
    private var locations: [Location] = []
    /// Index of the first entry held; meaningful when `locations` is not empty.
    public private(set) var firstIndex: UInt64 = 0
    /// Bytes cut from a torn tail during recovery (0 on a clean open).
    public private(set) var tornBytesCut = 0
    /// Whether data written since the last sync is durable.
    public private(set) var hasUnsyncedData = false

    /// Opens (creating if needed) the log in `directory`, verifying every record.
    public init(directory: String, segmentSizeLimit: Int = 64 << 20) throws {
        self.directory = directory
        self.segmentSizeLimit = segmentSizeLimit
        try FileIO.makeDirectory(directory)
        try recover()
    }

    deinit {
        for s in segments { close(s.fd) }
    }

    /// True when the log holds no entries.
    public var isEmpty: Bool { locations.isEmpty }
    /// Index of the last entry; `firstIndex - 1` (possibly 0) when empty.
    public var lastIndex: UInt64 { locations.isEmpty ? (firstIndex == 0 ? 0 : firstIndex - 1) : firstIndex + UInt64(locations.count) - 1 }
    /// Bytes of all segments.
    public var sizeInBytes: Int { segments.reduce(0) { $0 + $1.end } }
    public var segmentCount: Int { segments.count }

    /// The term of the entry at `index`, nil if the log does not hold it.
    public func term(at index: UInt64) -> UInt64? {
        guard let i = slot(index) else { return nil }
        return locations[i].term
    }

    private func slot(_ index: UInt64) -> Int? {
        guard !locations.isEmpty, index >= firstIndex, index <= lastIndex else { return nil }
        return Int(index - firstIndex)
    }

    // MARK: Appending

    /// Appends contiguous records. If the first record's index is at or below `lastIndex`, the log's
    /// conflicting suffix from that index on is removed first (Raft §5.3). An empty log accepts any
    /// starting index (after a snapshot). With `sync`, the batch is durable when this returns.
    public func append(_ records: [LogRecord], sync: Bool = true) throws {
        guard let first = records.first else {
            if sync { try self.sync() }
            return
        }
        for (a, b) in zip(records, records.dropFirst()) where b.index != a.index + 1 {
            throw StorageError.invalidArgument("log append: records not contiguous (\(a.index) then \(b.index))")
        }
        if !locations.isEmpty {
            if first.index <= lastIndex {
                guard first.index >= firstIndex else {
                    throw StorageError.invalidArgument("log append: index \(first.index) is below the first index \(firstIndex)")
                }
                try truncateSuffix(from: first.index)
            }
            if !locations.isEmpty && first.index != lastIndex + 1 {
                throw StorageError.invalidArgument("log append: index \(first.index) does not follow last index \(lastIndex)")
            }
        }
        if locations.isEmpty { firstIndex = first.index }
        if segments.isEmpty || segments[segments.count - 1].end >= segmentSizeLimit {
            try startSegment(firstIndex: first.index)
        }
        let segmentNumber = segments.count - 1
        var buffer: [UInt8] = []
        buffer.reserveCapacity(records.reduce(0) { $0 + $1.data.count + 25 })
        var newLocations: [Location] = []
        newLocations.reserveCapacity(records.count)
        var offset = segments[segmentNumber].end
        for record in records {
            let payloadLength = Self.payloadFixedSize + record.data.count
            guard payloadLength <= Int(Int32.max) else { throw StorageError.invalidArgument("log append: entry of \(record.data.count) bytes is too large") }
            let start = buffer.count
            buffer.appendLE(UInt32(payloadLength))
            buffer.appendLE(UInt32(0))  // checksum, filled below
            buffer.appendLE(record.index)
            buffer.appendLE(record.term)
            buffer.append(record.kind)
            buffer.append(contentsOf: record.data)
            let crc = buffer.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 8)...])) }
            withUnsafeBytes(of: crc.littleEndian) { crcBytes in
                for k in 0..<4 { buffer[start + 4 + k] = crcBytes[k] }
            }
            newLocations.append(
                Location(term: record.term, segment: Int32(segmentNumber), offset: offset + 8, length: Int32(payloadLength), kind: record.kind))
            offset += 8 + payloadLength
        }
        let segment = segments[segmentNumber]
        try FileIO.writeAll(segment.fd, buffer, at: segment.end, path: segment.path)
        segments[segmentNumber].end = offset
        locations.append(contentsOf: newLocations)
        hasUnsyncedData = true
        if sync { try self.sync() }
    }

    /// Makes everything appended so far durable (one `fdatasync` of the active segment).
    public func sync() throws {
        guard hasUnsyncedData, let segment = segments.last else { return }
        try FileIO.datasync(segment.fd, path: segment.path)
        hasUnsyncedData = false
    }

    private func startSegment(firstIndex: UInt64) throws {
        // The previous segment's data must be durable before entries land in a new file.
        try sync()
        let path = directory + "/" + Self.segmentName(firstIndex)
        let fd = try FileIO.open(path, O_RDWR | O_CREAT | O_TRUNC)
        var header = Self.magic
        header.appendLE(Self.formatVersion)
        header.appendLE(UInt32(0))
        do {
            try FileIO.writeAll(fd, header, at: 0, path: path)
            try FileIO.datasync(fd, path: path)
            try FileIO.fsyncDirectory(directory)
        } catch {
            close(fd)
            _ = Glibc.unlink(path)
            throw error
        }
        segments.append(Segment(path: path, fd: fd, firstIndex: firstIndex, end: Self.segmentHeaderSize))
    }

    static func segmentName(_ firstIndex: UInt64) -> String {
        let digits = String(firstIndex)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    // MARK: Reading

    /// Entries in `[from, to]`, stopping early once `maxBytes` of payload is exceeded (at least one entry is
    /// returned when any is in range).
    public func entries(from: UInt64, to: UInt64, maxBytes: Int = .max) throws -> [LogRecord] {
        guard from <= to, let start = slot(from) else { return [] }
        let end = slot(min(to, lastIndex))!
        var out: [LogRecord] = []
        var bytes = 0
        for i in start...end {
            let loc = locations[i]
            let segment = segments[Int(loc.segment)]
            let payload = try FileIO.read(segment.fd, count: Int(loc.length), at: loc.offset, path: segment.path)
            guard payload.count == Int(loc.length) else {
                throw StorageError.corrupt(path: segment.path, offset: loc.offset, reason: "short read of a verified record")
            }
            let index = firstIndex + UInt64(i)
            out.append(LogRecord(index: index, term: loc.term, kind: loc.kind, data: Array(payload[Self.payloadFixedSize...])))
            bytes += payload.count
            if bytes >= maxBytes { break }
        }
        return out
    }

    public func entry(at index: UInt64) throws -> LogRecord? {
        try entries(from: index, to: index).first
    }

    // MARK: Truncation

    /// Removes the entries from `index` to the end (a conflicting suffix, Raft §5.3). Durable on return.
    public func truncateSuffix(from index: UInt64) throws {
        guard let cut = slot(index) else {
            if index <= firstIndex && !locations.isEmpty { try removeAll(nextIndex: index) }
            return
        }
        let keepSegment = Int(locations[cut].segment)
        let cutOffset = locations[cut].offset - 8
        // Later segments first, newest first: a crash part-way leaves a contiguous prefix.
        while segments.count - 1 > keepSegment {
            let s = segments.removeLast()
            close(s.fd)
            try FileIO.unlink(s.path)
        }
        try FileIO.fsyncDirectory(directory)
        let segment = segments[keepSegment]
        if cutOffset <= Self.segmentHeaderSize {
            segments.removeLast()
            close(segment.fd)
            try FileIO.unlink(segment.path)
            try FileIO.fsyncDirectory(directory)
        } else {
            try FileIO.truncate(segment.fd, to: cutOffset, path: segment.path)
            try FileIO.datasync(segment.fd, path: segment.path)
            segments[keepSegment].end = cutOffset
        }
        locations.removeSubrange(cut...)
        hasUnsyncedData = false
    }

    /// Drops whole segments whose entries are all at or below `index` (log compaction after a snapshot).
    /// Entries above `index` always survive; a few at or below it may too (segment granularity).
    public func compact(upTo index: UInt64) throws {
        var removed = 0
        while segments.count > 1 {
            let nextFirst = segments[1].firstIndex
            guard nextFirst <= index + 1 else { break }
            let s = segments.removeFirst()
            close(s.fd)
            try FileIO.unlink(s.path)
            removed += 1
            let drop = Int(nextFirst - firstIndex)
            locations.removeFirst(min(drop, locations.count))
            firstIndex = nextFirst
        }
        if removed > 0 {
            for i in locations.indices { locations[i].segment -= Int32(removed) }
            try FileIO.fsyncDirectory(directory)
        }
        // The active segment goes too when everything in it is covered.
        if segments.count == 1 && !locations.isEmpty && lastIndex <= index {
            try removeAll(nextIndex: index + 1)
        }
    }

    /// Removes every entry; the next append may start at any index (`nextIndex` is a hint for `lastIndex`).
    public func removeAll(nextIndex: UInt64) throws {
        while let s = segments.popLast() {
            close(s.fd)
            try FileIO.unlink(s.path)
        }
        try FileIO.fsyncDirectory(directory)
        locations.removeAll()
        firstIndex = nextIndex
        hasUnsyncedData = false
    }

    // MARK: Recovery

    private func recover() throws {
        let names = try FileIO.listDirectory(directory).filter { $0.hasSuffix(".seg") }
        for (n, name) in names.enumerated() {
            let path = directory + "/" + name
            guard let segmentFirst = UInt64(name.dropLast(4)) else { continue }
            let isLast = n == names.count - 1
            let fd = try FileIO.open(path, O_RDWR)
            var segment = Segment(path: path, fd: fd, firstIndex: segmentFirst, end: Self.segmentHeaderSize)
            do {
                try scan(&segment, isLast: isLast)
            } catch {
                close(fd)
                throw error
            }
            if segment.end == Self.segmentHeaderSize && isLast && !segments.isEmpty {
                // An empty last segment (crash right after creating it): drop it.
                close(fd)
                try FileIO.unlink(path)
                continue
            }
            segments.append(segment)
        }
    }

    /// Verifies one segment, appending its entries to the index. The file is read through a window of a
    /// few MiB (or one record, when a record is larger): opening a log never holds a whole segment in memory.
    private func scan(_ segment: inout Segment, isLast: Bool) throws {
        let path = segment.path
        let fd = segment.fd
        let size = try FileIO.size(fd, path: path)
        let head = try FileIO.read(fd, count: min(size, Self.segmentHeaderSize), at: 0, path: path)
        guard head.count >= Self.segmentHeaderSize, Array(head[0..<8]) == Self.magic else {
            if isLast && size < Self.segmentHeaderSize {
                // Torn while writing the header of a new segment: nothing in it was ever acknowledged.
                try FileIO.truncate(fd, to: 0, path: path)
                try writeHeader(fd, path: path)
                tornBytesCut += size
                return
            }
            throw StorageError.corrupt(path: path, offset: 0, reason: "not a Raftlite log segment")
        }
        let version: UInt32 = head.withUnsafeBytes { readLE($0, at: 8, as: UInt32.self) }
        guard version == Self.formatVersion else {
            throw StorageError.corrupt(path: path, offset: 8, reason: "unsupported log format version \(version)")
        }
        var window: [UInt8] = []
        var base = 0
        /// Makes `window` cover the file from `from` for `count` bytes (or to its end).
        func cover(_ from: Int, _ count: Int) throws {
            let want = min(size, from + count)
            if from >= base && want <= base + window.count { return }
            window = try FileIO.read(fd, count: min(size - from, max(count, Self.scanWindow)), at: from, path: path)
            base = from
        }
        var offset = Self.segmentHeaderSize
        var expected: UInt64? = locations.isEmpty ? nil : lastIndex + 1
        if expected == nil { firstIndex = segment.firstIndex }
        if let e = expected, e != segment.firstIndex {
            throw StorageError.corrupt(path: path, offset: 0, reason: "segment starts at index \(segment.firstIndex), expected \(e)")
        }
        let segmentNumber = Int32(segments.count)
        while offset < size {
            try cover(offset, 8)
            if offset + 8 <= size {
                let length = window.withUnsafeBytes { Int(readLE($0, at: offset - base, as: UInt32.self)) }
                if offset + 8 + length <= size { try cover(offset, 8 + length) }
            }
            switch Self.parseRecord(window, at: offset - base) {
            case .end:
                segment.end = offset
                return try cutTail(&segment, at: offset, size: size, isLast: isLast, zeroTail: true)
            case .bad(let reason):
                // Torn if this is the last segment and no valid record follows the damaged one.
                if isLast {
                    let rest = try FileIO.read(fd, count: size - offset, at: offset, path: path)
                    if !Self.validRecordFollows(rest, after: 0) {
                        segment.end = offset
                        return try cutTail(&segment, at: offset, size: size, isLast: true, zeroTail: false)
                    }
                }
                throw StorageError.corrupt(path: path, offset: offset, reason: reason)
            case .record(let index, let term, let kind, let length):
                if let e = expected, index != e {
                    throw StorageError.corrupt(path: path, offset: offset, reason: "entry index \(index), expected \(e)")
                }
                if expected == nil && index != segment.firstIndex {
                    throw StorageError.corrupt(path: path, offset: offset, reason: "entry index \(index) in segment starting at \(segment.firstIndex)")
                }
                locations.append(Location(term: term, segment: segmentNumber, offset: offset + 8, length: Int32(length), kind: kind))
                expected = index + 1
                offset += 8 + length
            }
        }
        segment.end = offset
    }

    /// Bytes read at a time while verifying a segment.
    static let scanWindow = 4 << 20

    private func cutTail(_ segment: inout Segment, at offset: Int, size: Int, isLast: Bool, zeroTail: Bool) throws {
        guard offset < size else { return }
        if zeroTail {
            // Zero fill after the end marker is expected (preallocation); anything else is damage.
            let rest = try FileIO.read(segment.fd, count: size - offset, at: offset, path: segment.path)
            if rest.allSatisfy({ $0 == 0 }) {
                if isLast { return }
            } else if !isLast || Self.validRecordFollows(rest, after: 0) {
                throw StorageError.corrupt(path: segment.path, offset: offset, reason: "data after the end-of-log marker")
            }
        } else if !isLast {
            throw StorageError.corrupt(path: segment.path, offset: offset, reason: "damaged record")
        }
        try FileIO.truncate(segment.fd, to: offset, path: segment.path)
        try FileIO.datasync(segment.fd, path: segment.path)
        tornBytesCut += size - offset
    }

    private func writeHeader(_ fd: Int32, path: String) throws {
        var header = Self.magic
        header.appendLE(Self.formatVersion)
        header.appendLE(UInt32(0))
        try FileIO.writeAll(fd, header, at: 0, path: path)
        try FileIO.datasync(fd, path: path)
    }

    enum Parsed {
        case record(index: UInt64, term: UInt64, kind: UInt8, length: Int)
        case end
        case bad(String)
    }

    static func parseRecord(_ bytes: [UInt8], at offset: Int) -> Parsed {
        guard offset + 8 <= bytes.count else {
            return bytes[offset...].allSatisfy({ $0 == 0 }) ? .end : .bad("truncated record header")
        }
        return bytes.withUnsafeBytes { raw -> Parsed in
            let length = Int(readLE(raw, at: offset, as: UInt32.self))
            let crc = readLE(raw, at: offset + 4, as: UInt32.self)
            if length == 0 && crc == 0 { return .end }
            guard length >= payloadFixedSize else { return .bad("record length \(length) too small") }
            guard offset + 8 + length <= bytes.count else { return .bad("record runs past the end of the file") }
            let payload = UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<(offset + 8 + length)])
            guard checksum(payload) == crc else { return .bad("checksum mismatch") }
            return .record(
                index: readLE(payload, at: 0, as: UInt64.self), term: readLE(payload, at: 8, as: UInt64.self),
                kind: payload[16], length: length)
        }
    }

    /// Whether a valid record starts anywhere after `offset` (distinguishes a torn tail from corruption).
    static func validRecordFollows(_ bytes: [UInt8], after offset: Int) -> Bool {
        var probe = offset + 1
        while probe + 8 + payloadFixedSize <= bytes.count {
            if case .record = parseRecord(bytes, at: probe) { return true }
            probe += 1
        }
        return false
    }
}
