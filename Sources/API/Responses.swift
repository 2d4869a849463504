import HTTPServer

/// Response shapes that reproduce Go's `net/http` helpers.
enum Responses {
    static let jsonContentType = "application/json; charset=utf-8"
    static let textContentType = "text/plain; charset=utf-8"

    /// Go's `http.Error(w, msg, code)`: `msg\n`, text/plain, nosniff.
    static func textError(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(
            status: status,
            headers: [("Content-Type", textContentType), ("X-Content-Type-Options", "nosniff")],
            text: message + "\n")
    }

    /// A bare status with an empty body (401, 405, 404, OPTIONS), keeping any content type the handler set.
    static func empty(_ status: Int, contentType: String? = nil) -> HTTPResponse {
        HTTPResponse(status: status, headers: contentType.map { [("Content-Type", $0)] } ?? [])
    }

    static func json(_ status: Int = 200, _ body: [UInt8], extra: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", jsonContentType)] + extra, body: .bytes(body))
    }

    /// Go's `http.Redirect`: a GET or HEAD without a content type gets text/html, and a GET a short body.
    static func redirect(method: String, location: String, status: Int, contentType: String?) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Location", location)]
        if let contentType {
            headers.append(("Content-Type", contentType))
            return HTTPResponse(status: status, headers: headers)
        }
        if method == "GET" || method == "HEAD" {
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        }
        guard method == "GET" else { return HTTPResponse(status: status, headers: headers) }
        let body = "<a href=\"" + htmlEscape(location) + "\">" + statusText(status) + "</a>.\n\n"
        return HTTPResponse(status: status, headers: headers, text: body)
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "'": out += "&#39;"
            case "\"": out += "&#34;"
            default: out.append(c)
            }
        }
        return out
    }

    static func statusText(_ status: Int) -> String {
        switch status {
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 307: return "Temporary Redirect"
        default: return ""
        }
    }
}
