import CZlib

/// zlib (deflate) for command bodies and database images.
public enum Zlib {
    /// Compresses with the default level; nil on failure.
    public static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8]? {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &bound, src.baseAddress, uLong(input.count), level)
            }
        }
        guard rc == Z_OK else { return nil }
        out.removeLast(out.count - Int(bound))
        return out
    }

    /// Decompresses data that must expand to exactly `expectedLength` bytes; nil otherwise.
    public static func decompress(_ input: [UInt8], expectedLength: Int) -> [UInt8]? {
        guard expectedLength >= 0 else { return nil }
        var out = [UInt8](repeating: 0, count: max(expectedLength, 1))
        var length = uLong(expectedLength)
        let rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                uncompress(dst.baseAddress, &length, src.baseAddress, uLong(input.count))
            }
        }
        guard rc == Z_OK, Int(length) == expectedLength else { return nil }
        if expectedLength == 0 { return [] }
        return out
    }
}
