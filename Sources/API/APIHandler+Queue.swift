import Common
import Dispatch
import HTTPServer
import JSON
import SQLRewrite
import SQLiteDB
import Synchronization

/// Makes sure a request is answered once when several events race (written, wait timeout, shutdown).
final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    /// True for the first caller only.
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

extension APIHandler {
    /// `POST /db/execute?queue` (REFERENCE §4): answered with the request's sequence number once it is
    /// queued, or with `wait` once its batch has been written (408 `queue wait timeout` after `timeout`).
    func handleQueuedExecute(_ ctx: Context) {
        if !ctx.params.noLeader && !status.readiness().leaderKnown {
            ctx.send(Responses.textError(503, "leader not found"))
            return
        }
        let wait = ctx.params.has("wait")
        var parsed: [Statement] = []
        do {
            // The JSON array form only.
            parsed = try RequestParser.parse(body: ctx.request.body, plainText: false)
        } catch {
            // An empty array is a flush marker with `wait`; other parse errors are not reported (rqlite's
            // quirk): the request is queued with no statements.
            if error.message == "no statements" && !wait {
                ctx.send(Responses.textError(400, "no statements"))
                return
            }
        }
        // Rewritten like any write; `noparse` is ignored here.
        let (stmts, disallowed) = prepare(parsed, params: ctx.params, rewrite: true, ignoreNoParse: true)
        if disallowed {
            sendEnvelope(ctx, results: [], error: "disallowed pragma")
            return
        }
        let once = Once()
        let encoder = ResultEncoder(ctx.params)
        let clock = configuration.clock
        let start = ctx.start
        let send = ctx.send
        @Sendable func accepted(_ sequence: Int64) {
            let body = encoder.envelope(results: [], time: clock() - start, sequenceNumber: sequence)
            send(Responses.json(200, body))
        }
        var onWritten: (@Sendable (Int64, WriteQueue.Outcome) -> Void)?
        if wait {
            onWritten = { sequence, outcome in
                guard once.claim() else { return }
                switch outcome {
                case .written: accepted(sequence)
                case .closed: send(Responses.textError(503, "queue closed before the batch was written"))
                case .unauthorized: send(Responses.textError(401, ServiceError.unauthorizedText))
                }
            }
            let timeout = ctx.params.timeout(default: configuration.defaultTimeout)
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if once.claim() { send(Responses.textError(408, "queue wait timeout")) }
            }
        }
        do {
            try writeQueue.enqueue(stmts, credentials: credentials(ctx.request), written: onWritten) { sequence in
                if !wait { accepted(sequence) }
            }
        } catch {
            if once.claim() { send(Responses.textError(503, "queue closed")) }
        }
    }

    /// `/status` → `http.queue._default` (a Go map: keys sorted).
    func writeQueueStatus() -> JSONValue {
        let s = writeQueue.settings
        return .object([
            ("batch_size", .integer(Int64(s.batchSize))),
            ("max_size", .integer(Int64(s.capacity))),
            ("sequence_number", .integer(writeQueue.highestWritten)),
            ("timeout", .string(GoDuration.format(seconds: s.timeout))),
        ])
    }
}
