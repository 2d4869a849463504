import HTTPServer
import JSON
import SQLRewrite
import SQLiteDB

extension APIHandler {
    /// `GET /db/sql?q=` or `POST /db/sql` with a JSON array (REFERENCE §1.9): what the rewriter makes of
    /// each statement. Never touches the database.
    func handleSQLPreview(_ ctx: Context) {
        let sqls: [String]
        if ctx.method == "GET" {
            sqls = [ctx.params["q"] ?? ""]
        } else {
            do {
                sqls = try RequestParser.parse(body: ctx.request.body, plainText: false).map(\.sql)
            } catch {
                ctx.send(Responses.textError(400, error.message))
                return
            }
        }
        let rewriter = self.rewriter(ctx.params)
        let timings = ctx.params.timings
        let clock = configuration.clock
        var w = JSONWriter(pretty: ctx.params.pretty, capacity: 64 + sqls.count * 128)
        w.beginObject()
        w.key("results")
        w.beginArray()
        for sql in sqls {
            let t0 = clock()
            let outcome = rewriter.preview(sql)
            let elapsed = clock() - t0
            w.beginObject()
            w.key("original")
            w.string(sql)
            switch outcome {
            case .success(let o):
                w.key("rewritten")
                w.string(o.sql)
            case .failure(let e):
                w.key("error")
                w.string(e.message)
            }
            if timings && elapsed != 0 {
                w.key("time")
                w.double(elapsed)
            }
            w.endObject()
        }
        w.endArray()
        let total = clock() - ctx.start
        if timings && total != 0 {
            w.key("time")
            w.double(total)
        }
        w.endObject()
        ctx.send(Responses.json(200, w.bytes))
    }
}
