import CZlib

#if canImport(Glibc)
    import Glibc
#endif

/// Errors from durable storage. `corrupt` means data on disk failed verification where a crash cannot
/// explain it: the node must stop loudly rather than guess.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    case io(operation: String, path: String, errno: Int32)
    case corrupt(path: String, offset: Int, reason: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .io(let op, let path, let e): return "\(op) \(path): \(String(cString: strerror(e)))"
        case .corrupt(let path, let offset, let reason): return "corrupt data in \(path) at offset \(offset): \(reason)"
        case .invalidArgument(let message): return message
        }
    }

    /// The errno of an IO failure (EIO, ENOSPC, ...), nil otherwise.
    public var errnoValue: Int32? {
        if case .io(_, _, let e) = self { return e }
        return nil
    }
}

/// Thin, throwing wrappers over POSIX file calls; every failure names the operation and the path.
enum FileIO {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        try bytes.withUnsafeBytes { buffer in try writeAll(fd, buffer, at: offset, path: path) }
    }

    /// Reads exactly `count` bytes at `offset`; fewer bytes (EOF) is reported as corruption by callers, so
    /// this returns what it could read.
    static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { out.removeLast(count - done) }
        return out
    }

    static func datasync(_ fd: Int32, path: String) throws {
        guard fdatasync(fd) == 0 else { throw StorageError.io(operation: "fdatasync", path: path, errno: errno) }
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: path, errno: errno) }
    }

    static func size(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError.io(operation: "stat", path: path, errno: errno) }
        return Int(st.st_size)
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw StorageError.io(operation: "truncate", path: path, errno: errno) }
    }

    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StorageError.io(operation: "mkdir", path: current, errno: errno)
            }
        }
    }

    static func unlink(_ path: String) throws {
        guard Glibc.unlink(path) == 0 || errno == ENOENT else { throw StorageError.io(operation: "unlink", path: path, errno: errno) }
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw StorageError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Replaces `path` atomically with `bytes`: write a temporary file, fsync it, rename it over `path`,
    /// fsync the directory. After a crash the file holds either the old or the new contents, never a mix.
    static func atomicWrite(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try writeAll(fd, bytes, at: 0, path: tmp)
            guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: tmp, errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw StorageError.io(operation: "rename", path: tmp, errno: errno) }
        try fsyncDirectory(directoryOf(path))
    }

    static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// CRC-32 (zlib's polynomial) of a byte range.
func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    UInt32(crc32(0, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
}

func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
}

// Little-endian encoding helpers.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

func readLE<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, at offset: Int, as: T.Type) -> T {
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + MemoryLayout<T>.size])) }
    return T(littleEndian: value)
}

/// Small files outside the log whose presence means something after a crash (markers): written
/// atomically, removed durably.
public enum DurableFile {
    /// Replaces `path` with `bytes` (temporary file, fsync, rename, fsync of the directory).
    public static func write(_ bytes: [UInt8], to path: String) throws { try FileIO.atomicWrite(bytes, to: path) }

    /// Removes `path` if it exists and makes the removal durable (fsync of the directory).
    public static func remove(_ path: String) throws {
        try FileIO.unlink(path)
        try FileIO.fsyncDirectory(FileIO.directoryOf(path))
    }
}
