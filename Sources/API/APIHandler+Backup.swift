import CZlib
import Foundation
import HTTPServer
import JSON
import SQLiteDB

extension APIHandler {
    /// `GET /db/backup` (REFERENCE §11.1): the node writes the backup to a temporary file; it is streamed
    /// from there in 256 KiB chunks, gzip-compressed on the fly with `compress`, and deleted at the end —
    /// so a large database is never held in memory.
    func handleBackup(_ ctx: Context) {
        guard let backups else { return notImplemented(ctx) }
        let format: BackupFormat
        switch ctx.params["fmt"]?.lowercased() {
        case "sql": format = .sql
        case "delete": format = .delete
        default: format = .binary
        }
        let vacuum = ctx.params.has("vacuum")
        if vacuum && format != .binary { return ctx.send(Responses.textError(500, "invalid backup format")) }
        let tables = ctx.params["tables"].map { $0.split(separator: ",").map { String($0) }.filter { !$0.isEmpty } }
        let request = BackupRequest(
            format: format, vacuum: vacuum, tables: tables, noLeader: ctx.params.has("noleader"), redirect: ctx.params.redirect,
            timeout: ctx.params.timeout(default: configuration.defaultTimeout))
        let compress = ctx.params.has("compress")
        backups.backup(request) { [self] result in
            switch result {
            case .failure(let error):
                sendAdminFailure(ctx, error)
            case .success(let file):
                guard let stream = FileStream(path: file.path, gzip: compress, deleteWhenDone: true) else {
                    return ctx.send(Responses.textError(500, "backup file vanished"))
                }
                var headers = servedByHeader(file.servedBy)
                headers.append(("Content-Type", format == .sql ? "application/sql" : "application/octet-stream"))
                ctx.send(HTTPResponse(status: 200, headers: headers, body: .stream(contentLength: compress ? nil : stream.size) {
                    stream.next()
                }))
            }
        }
    }

    /// `POST /db/load` (REFERENCE §11.2): a body starting with the SQLite header is a database image,
    /// verified (header and `PRAGMA quick_check` on the file), then replicated through the log in chunks;
    /// anything else is SQL text executed in one transaction. The server spools this endpoint's body to a
    /// file, so an image of any size is handled in bounded memory; an invalid one changes nothing.
    /// Classifying and verifying the file reads all of it: done off the server's thread.
    func handleLoad(_ ctx: Context) {
        guard let backups else { return notImplemented(ctx) }
        DispatchQueue.global().async { [self] in verifyAndLoad(ctx, backups) }
    }

    private func verifyAndLoad(_ ctx: Context, _ backups: any BackupService) {
        let timeout = ctx.params.timeout(default: configuration.defaultTimeout)
        let image: ImageFile
        switch imageFile(ctx.request) {
        case .image(let file): image = file
        case .invalidImage: return ctx.send(Responses.textError(400, "invalid SQLite data"))
        case .cannotStore(let why): return ctx.send(Responses.textError(500, why))
        case .text(let body): return loadSQL(ctx, body, timeout: timeout)
        case .textTooLarge: return ctx.send(Responses.textError(413, "request body too large"))
        }
        backups.load(file: image.path, redirect: ctx.params.redirect, timeout: timeout, credentials: credentials(ctx.request)) { [self] result in
            image.release()
            switch result {
            case .success(let response):
                ctx.send(Responses.json(200, Array(#"{"results":[]}"#.utf8), extra: servedByHeader(response.servedBy)))
            case .failure(let error):
                sendFailure(ctx, error, jsonEndpoint: true)
            }
        }
    }

    private func loadSQL(_ ctx: Context, _ body: [UInt8], timeout: Double) {
        guard let text = String(validating: body, as: UTF8.self) else {
            return ctx.send(Responses.textError(400, "invalid SQL data: not UTF-8"))
        }
        var request = ExecuteRequest(statements: [Statement(sql: Self.strippingTransactionControl(text))], transaction: true)
        request.redirect = ctx.params.redirect
        request.timeout = timeout
        request.timings = ctx.params.has("timings")
        request.credentials = credentials(ctx.request)
        database.execute(request) { [self] result in
            switch result {
            case .success(let response):
                sendEnvelope(ctx, results: response.results, raftIndex: response.raftIndex, servedBy: response.servedBy ?? configuration.advertisedAddress)
            case .failure(let error): sendFailure(ctx, error, jsonEndpoint: true)
            }
        }
    }

    /// `POST /boot` (REFERENCE §11.3); the image is verified off the server's thread, as for a load.
    func handleBoot(_ ctx: Context) {
        guard let backups else { return notImplemented(ctx) }
        DispatchQueue.global().async { [self] in verifyAndBoot(ctx, backups) }
    }

    private func verifyAndBoot(_ ctx: Context, _ backups: any BackupService) {
        let image: ImageFile
        switch imageFile(ctx.request) {
        case .image(let file): image = file
        case .invalidImage: return ctx.send(Responses.textError(503, "invalid SQLite data"))
        case .cannotStore(let why): return ctx.send(Responses.textError(500, why))
        case .text, .textTooLarge: return ctx.send(Responses.textError(400, "invalid SQLite data"))
        }
        backups.boot(file: image.path) { result in
            image.release()
            switch result {
            case .success: ctx.send(HTTPResponse(status: 200))
            case .failure(.message(let m)): ctx.send(Responses.textError(503, m))
            case .failure: ctx.send(Responses.textError(503, "not leader"))
            }
        }
    }

    /// A verified database image on disk: the server's spooled body, or a scratch copy of an in-memory
    /// body (deleted by `release`).
    struct ImageFile: Sendable {
        var path: String
        var scratch: Bool
        func release() {
            guard scratch else { return }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }

    enum LoadBody {
        case image(ImageFile)
        case invalidImage
        case cannotStore(String)
        case text([UInt8])
        case textTooLarge
    }

    /// Classifies a `/db/load` or `/boot` body by rqlite's prefix rule and, for an image, verifies the file.
    func imageFile(_ request: HTTPRequest) -> LoadBody {
        let file: ImageFile
        if let path = request.bodyFile {
            let head = Self.readPrefix(path, count: Self.sqliteHeader.count)
            guard head == Self.sqliteHeader else {
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                guard size <= configuration.maxSQLLoadBytes else { return .textTooLarge }
                return .text([UInt8](FileManager.default.contents(atPath: path) ?? Data()))
            }
            file = ImageFile(path: path, scratch: false)
        } else {
            guard request.body.starts(with: Self.sqliteHeader) else { return .text(request.body) }
            let directory = configuration.scratchDirectory ?? NSTemporaryDirectory()
            let path = directory + (directory.hasSuffix("/") ? "" : "/") + "raftlite-load-\(UInt64.random(in: 0...UInt64.max)).upload"
            guard FileManager.default.createFile(atPath: path, contents: Data(request.body)) else {
                return .cannotStore("cannot write \(path)")
            }
            file = ImageFile(path: path, scratch: true)
        }
        let valid = Connection.isValidSQLiteFile(file.path)
        // Opening a WAL-mode image may leave empty companions next to it.
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file.path + suffix) }
        guard valid else {
            file.release()
            return .invalidImage
        }
        return .image(file)
    }

    static func readPrefix(_ path: String, count: Int) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        return [UInt8]((try? handle.read(upToCount: count)) ?? Data())
    }

    /// rqlite routes a load by this prefix; the image is then verified in full.
    static let sqliteHeader = Array("SQLite format".utf8)

    /// A dump carries its own `BEGIN TRANSACTION;` … `COMMIT;`; the load runs it in one transaction of its
    /// own, so those top-level lines are dropped.
    static func strippingTransactionControl(_ sql: String) -> String {
        sql.split(separator: "\n", omittingEmptySubsequences: false).filter {
            let line = $0.trimmingCharacters(in: .whitespaces).uppercased()
            return line != "BEGIN TRANSACTION;" && line != "BEGIN;" && line != "COMMIT;" && line != "END;"
        }.joined(separator: "\n")
    }
}

/// Streams a file in chunks, optionally gzip-compressed, deleting it afterwards if asked.
final class FileStream: @unchecked Sendable {
    private let handle: FileHandle
    private let path: String
    private let deleteWhenDone: Bool
    private let lock = NSLock()
    /// zlib keeps a pointer back to its stream, so the stream lives at one fixed heap address.
    private var zstream: UnsafeMutablePointer<z_stream>?
    private var finished = false
    let size: Int

    init?(path: String, gzip: Bool, deleteWhenDone: Bool) {
        guard let handle = FileHandle(forReadingAtPath: path),
            let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int
        else { return nil }
        self.handle = handle
        self.path = path
        self.deleteWhenDone = deleteWhenDone
        self.size = size
        if gzip {
            let z = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            z.initialize(to: z_stream())
            // windowBits 15 + 16: a gzip wrapper; level 1 (Go's gzip.BestSpeed, as rqlite uses).
            guard deflateInit2_(z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
            else {
                z.deallocate()
                return nil
            }
            zstream = z
        }
    }

    deinit { finish() }

    /// The next chunk; empty at the end; nil on an error.
    func next() -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            guard !finished else { return [] }
            let data = [UInt8](handle.readData(ofLength: 256 << 10))
            guard zstream != nil else {
                if data.isEmpty { finishLocked() }
                return data
            }
            guard let out = deflateChunk(data, finish: data.isEmpty) else {
                finishLocked()
                return nil
            }
            if data.isEmpty {
                finishLocked()
                return out
            }
            // zlib may buffer a whole chunk; an empty chunk would end the body early, so read on.
            if !out.isEmpty { return out }
        }
    }

    private func deflateChunk(_ data: [UInt8], finish: Bool) -> [UInt8]? {
        guard let z = zstream else { return nil }
        var out = [UInt8]()
        var input = data
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let rc = input.withUnsafeMutableBufferPointer { inBuf -> Int32 in
            z.pointee.next_in = inBuf.baseAddress
            z.pointee.avail_in = uInt(inBuf.count)
            var rc: Int32 = Z_OK
            repeat {
                rc = chunk.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                    z.pointee.next_out = outBuf.baseAddress
                    z.pointee.avail_out = uInt(outBuf.count)
                    return deflate(z, finish ? Z_FINISH : Z_NO_FLUSH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(z.pointee.avail_out))])
            } while z.pointee.avail_out == 0 && rc == Z_OK
            return rc
        }
        return rc == Z_STREAM_ERROR ? nil : out
    }

    private func finish() {
        lock.lock()
        finishLocked()
        lock.unlock()
    }

    private func finishLocked() {
        guard !finished else { return }
        finished = true
        if let z = zstream {
            deflateEnd(z)
            z.deallocate()
            zstream = nil
        }
        try? handle.close()
        if deleteWhenDone { try? FileManager.default.removeItem(atPath: path) }
    }
}
