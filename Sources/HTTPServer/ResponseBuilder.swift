import CMicroHTTPD

#if canImport(Glibc)
    import Glibc
#endif

/// Turns `HTTPResponse` values into libmicrohttpd responses and queues them. MHD thread only.
enum ResponseBuilder {
    /// Headers the server owns: libmicrohttpd computes framing itself.
    private static let reserved: Set<String> = ["content-length", "transfer-encoding"]

    static func queue(_ response: HTTPResponse, on connection: OpaquePointer?, core: ServerCore) -> MHD_Result {
        guard let mhdResponse = make(response.body) else {
            core.log("could not create a response; closing the connection")
            return .NO
        }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers where !reserved.contains(header.name.lowercased()) {
            if MHD_add_response_header(mhdResponse, header.name, header.value) != .YES {
                core.log("response header \(header.name) refused")
            }
        }
        if core.draining.load(ordering: .relaxed) {
            _ = MHD_add_response_header(mhdResponse, "Connection", "close")
        }
        var status = response.status
        if !(200...999).contains(status) {
            core.log("invalid response status \(status); sending 500")
            status = 500
        }
        return MHD_queue_response(connection, UInt32(status), mhdResponse)
    }

    static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], text: text)
    }

    private static func make(_ body: HTTPBody) -> OpaquePointer? {
        switch body {
        case .bytes(let bytes):
            if bytes.isEmpty {
                return MHD_create_response_from_buffer(0, nil, .RESPMEM_PERSISTENT)
            }
            // One copy into a malloc'd buffer that libmicrohttpd frees when the response is done.
            guard let buffer = malloc(bytes.count) else { return nil }
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            guard let response = MHD_create_response_from_buffer_with_free_callback(bytes.count, buffer, free) else {
                free(buffer)
                return nil
            }
            return response
        case .stream(let contentLength, let next):
            let stream = StreamState(remaining: contentLength, next: next)
            let size = contentLength.map { UInt64($0) } ?? raftlite_mhd_size_unknown
            let cls = Unmanaged.passRetained(stream).toOpaque()
            guard
                let response = MHD_create_response_from_callback(
                    size, 32 * 1024,
                    { cls, _, buffer, max in
                        Unmanaged<StreamState>.fromOpaque(cls!).takeUnretainedValue().read(into: buffer!, max: max)
                    },
                    cls,
                    { cls in Unmanaged<StreamState>.fromOpaque(cls!).release() })
            else {
                Unmanaged<StreamState>.fromOpaque(cls).release()
                return nil
            }
            return response
        }
    }
}

/// Adapts the chunk producer to libmicrohttpd's "fill this buffer" reader; a chunk larger than the
/// buffer is handed out over several calls. Never returns 0 (that would make MHD spin).
private final class StreamState {
    let next: @Sendable () -> [UInt8]?
    var pending: [UInt8] = []
    var offset = 0
    var remaining: Int?

    init(remaining: Int?, next: @escaping @Sendable () -> [UInt8]?) {
        self.remaining = remaining
        self.next = next
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        while offset >= pending.count {
            guard let chunk = next() else { return raftlite_mhd_content_reader_end_with_error }
            if chunk.isEmpty {
                // A declared length not reached is an error: close rather than hang the client.
                if let left = remaining, left > 0 { return raftlite_mhd_content_reader_end_with_error }
                return raftlite_mhd_content_reader_end_of_stream
            }
            pending = chunk
            offset = 0
        }
        let count = min(max, pending.count - offset)
        pending.withUnsafeBytes { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        if let left = remaining { remaining = left - count }
        return count
    }
}
