import Crypto
import Foundation

/// AWS Signature Version 4 for requests signed in the `Authorization` header.
public enum SigV4 {
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `20130524T000000Z`, UTC.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when `keepSlash`).
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out += "/"
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// The canonical query string from already-decoded name/value pairs: encoded, sorted by name then value.
    public static func canonicalQuery(_ items: [(String, String)]) -> String {
        let encoded: [(String, String)] = items.map { item in
            (uriEncode(item.0, keepSlash: false), uriEncode(item.1, keepSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        return sorted.map { pair in pair.0 + "=" + pair.1 }.joined(separator: "&")
    }

    /// Signed header names (lowercased, sorted, `;`-joined) and the canonical header block.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> (signed: String, block: String) {
        let normalized = headers.map { (name, value) -> (String, String) in
            let trimmed = value.trimmingCharacters(in: .whitespaces)
                .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            return (name.lowercased(), trimmed)
        }.sorted { $0.0 < $1.0 }
        return (
            normalized.map(\.0).joined(separator: ";"),
            normalized.map { "\($0.0):\($0.1)\n" }.joined()
        )
    }

    /// The canonical request: method, canonical (already encoded) URI, canonical query, headers, signed
    /// header list and payload hash, newline-separated.
    public static func canonicalRequest(
        method: String, encodedPath: String, query: String, headers: [(String, String)], payloadHash: String
    ) -> String {
        let h = canonicalHeaders(headers)
        return [method, encodedPath.isEmpty ? "/" : encodedPath, query, h.block, h.signed, payloadHash]
            .joined(separator: "\n")
    }

    public static func scope(date: String, region: String, service: String) -> String {
        "\(date.prefix(8))/\(region)/\(service)/aws4_request"
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(sha256Hex(Array(canonicalRequest.utf8)))"
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        func mac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        var key = SymmetricKey(data: Data(("AWS4" + secret).utf8))
        for part in [String(date.prefix(8)), region, service, "aws4_request"] { key = mac(key, part) }
        return key
    }

    public static func signature(
        secret: String, amzDate: String, region: String, service: String, stringToSign: String
    ) -> String {
        let key = signingKey(secret: secret, date: amzDate, region: region, service: service)
        return hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    /// The `Authorization` header value for a request whose headers (including `host` and `x-amz-date`)
    /// are all signed.
    public static func authorization(
        accessKeyID: String, secret: String, region: String, service: String, amzDate: String, method: String,
        encodedPath: String, query: String, headers: [(String, String)], payloadHash: String
    ) -> String {
        let canonical = canonicalRequest(
            method: method, encodedPath: encodedPath, query: query, headers: headers, payloadHash: payloadHash)
        let scope = scope(date: amzDate, region: region, service: service)
        let toSign = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let sig = signature(secret: secret, amzDate: amzDate, region: region, service: service, stringToSign: toSign)
        let signed = canonicalHeaders(headers).signed
        return "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signed), Signature=\(sig)"
    }

    /// SHA-256 of a file's contents, read in chunks.
    public static func sha256Hex(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StorageError("cannot open \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = try handle.read(upToCount: 1 << 16) ?? Data()
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }
}
