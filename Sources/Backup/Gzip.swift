import CZlib
import Foundation

/// Streaming gzip between files, in bounded memory.
public enum Gzip {
    static let chunk = 1 << 16

    /// Whether the file starts with the gzip magic and deflate method (`1f 8b 08`).
    public static func isGzipFile(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 3)) ?? Data())
        return head == [0x1f, 0x8b, 0x08]
    }

    public static func compress(_ source: String, to target: String, level: Int32 = Z_DEFAULT_COMPRESSION) throws {
        // A z_stream points into itself: it must stay at one heap address for its whole life.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { throw StorageError("gzip: deflateInit2 failed") }
        defer { deflateEnd(stream) }
        try pump(source, target, stream, finishFlush: Z_FINISH) { deflate($0, $1) }
    }

    /// Gunzips `source` into `target`; throws on corrupt or truncated input.
    public static func decompress(_ source: String, to target: String) throws {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw StorageError("gunzip: inflateInit2 failed")
        }
        defer { inflateEnd(stream) }
        try pump(source, target, stream, finishFlush: Z_NO_FLUSH) { inflate($0, $1) }
    }

    /// Feeds `source` through `step` into `target` until the stream ends.
    private static func pump(
        _ source: String, _ target: String, _ stream: UnsafeMutablePointer<z_stream>, finishFlush: Int32,
        _ step: (UnsafeMutablePointer<z_stream>, Int32) -> Int32
    ) throws {
        guard let input = FileHandle(forReadingAtPath: source) else { throw StorageError("cannot open \(source)") }
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: target, contents: nil),
            let output = FileHandle(forWritingAtPath: target)
        else { throw StorageError("cannot create \(target)") }
        defer { try? output.close() }
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk)
        defer { out.deallocate() }
        var ended = false
        while !ended {
            var data = [UInt8](try input.read(upToCount: chunk) ?? Data())
            let last = data.isEmpty
            if last && finishFlush == Z_NO_FLUSH {
                throw StorageError("gzip data is truncated")
            }
            try data.withUnsafeMutableBufferPointer { buffer in
                stream.pointee.next_in = buffer.baseAddress
                stream.pointee.avail_in = uInt(buffer.count)
                repeat {
                    stream.pointee.next_out = out
                    stream.pointee.avail_out = uInt(chunk)
                    let rc = step(stream, last ? finishFlush : Z_NO_FLUSH)
                    if rc == Z_STREAM_END {
                        ended = true
                    } else if rc != Z_OK && rc != Z_BUF_ERROR {
                        let why = stream.pointee.msg.map { String(cString: $0) } ?? "code \(rc)"
                        throw StorageError("gzip data is corrupt: \(why)")
                    }
                    let produced = chunk - Int(stream.pointee.avail_out)
                    if produced > 0 { try output.write(contentsOf: Data(bytes: out, count: produced)) }
                    if ended { break }
                } while stream.pointee.avail_out == 0 || (last && !ended && stream.pointee.avail_in > 0)
                stream.pointee.next_in = nil
            }
            if last && finishFlush == Z_FINISH && !ended { throw StorageError("gzip: deflate did not finish") }
        }
    }
}
