import HTTPServer

/// The web console's static files, served from the public directory (REFERENCE §12).
enum StaticFiles {
    static func contentType(for path: String) -> String {
        let ext = path.split(separator: "/").last.flatMap { name -> Substring? in
            guard let dot = name.lastIndex(of: ".") else { return nil }
            return name[name.index(after: dot)...]
        }.map { $0.lowercased() } ?? ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "ico": return "image/vnd.microsoft.icon"
        case "webp": return "image/webp"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "wasm": return "application/wasm"
        case "map": return "application/json"
        default: return "application/octet-stream"
        }
    }

    /// Serves `request.path` (below `prefix`) from `directory`. `..` segments are rejected (400, as Go's
    /// file server does); a directory serves its `index.html`; anything missing is Go's 404 text.
    static func serve(directory: String?, request: HTTPRequest, prefix: String) -> HTTPResponse {
        let notFound = Responses.textError(404, "404 page not found")
        guard let directory, !directory.isEmpty else { return notFound }
        let relative = String(request.path.dropFirst(prefix.count))
        let segments = relative.split(separator: "/", omittingEmptySubsequences: true)
        if segments.contains("..") || relative.contains("\0") || relative.contains("\\") {
            return Responses.textError(400, "invalid URL path")
        }
        var filePath = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        for s in segments { filePath += "/" + s }
        if FileReader.isDirectory(filePath) { filePath += "/index.html" }
        guard let bytes = FileReader.read(path: filePath) else { return notFound }
        // HEAD gets the same response: the server (libmicrohttpd) sends its Content-Length and drops the body.
        return HTTPResponse(status: 200, headers: [("Content-Type", contentType(for: filePath))], body: .bytes(bytes))
    }
}
