import CMicroHTTPD

/// The C entry points libmicrohttpd calls. `cls` is the unretained `ServerCore`; a request's `con_cls` is
/// a retained `RequestContext`.
enum Callbacks {
    static func core(_ cls: UnsafeMutableRawPointer?) -> ServerCore {
        Unmanaged<ServerCore>.fromOpaque(cls!).takeUnretainedValue()
    }

    /// MHD_OPTION_URI_LOG_CALLBACK: the request line was parsed; allocate the request's context.
    static let uriLog: raftlite_mhd_uri_log_fn = { cls, uri, connection in
        let core = Callbacks.core(cls)
        let target = uri.map { String(cString: $0) } ?? "/"
        let context = RequestContext(core: core, rawTarget: target, connection: connection)
        return Unmanaged.passRetained(context).toOpaque()
    }

    /// MHD_OPTION_NOTIFY_COMPLETED: the request is over, whatever happened; release its context.
    static let completed: MHD_RequestCompletedCallback = { cls, _, contextSlot, termination in
        guard let slot = contextSlot, let raw = slot.pointee else { return }
        slot.pointee = nil
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
        context.finish()
        let core = Callbacks.core(cls)
        if context.dispatched { core.unregister(context) }
        core.count { stats in
            if context.dispatched { stats.inFlight -= 1 }
            if termination == .REQUEST_TERMINATED_COMPLETED_OK {
                stats.requestsServed += 1
            } else {
                stats.requestsAborted += 1
            }
        }
    }

    static let connectionNotify: MHD_NotifyConnectionCallback = { cls, _, _, code in
        let core = Callbacks.core(cls)
        core.count { stats in
            if code == .CONNECTION_NOTIFY_STARTED {
                stats.openConnections += 1
                stats.connectionsAccepted += 1
            } else {
                stats.openConnections -= 1
            }
        }
    }

    static let log: raftlite_mhd_log_fn = { cls, message in
        Callbacks.core(cls).log(message.map { String(cString: $0) } ?? "")
    }

    static let access: MHD_AccessHandlerCallback = { cls, connection, _, method, _, uploadData, uploadSize, contextSlot in
        guard let slot = contextSlot, let raw = slot.pointee else { return .NO }
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
        return RequestFlow.step(
            context, connection: connection, method: method, uploadData: uploadData, uploadSize: uploadSize!)
    }
}
