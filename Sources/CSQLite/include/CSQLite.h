#ifndef RAFTLITE_CSQLITE_H
#define RAFTLITE_CSQLITE_H
#include <sqlite3.h>
#include <stdint.h>

// Shims for the parts of SQLite's C API that Swift cannot call directly:
// macros that expand to casts (SQLITE_TRANSIENT) and variadic functions; plus the few Linux calls that
// Glibc's Swift overlay leaves out (sync_file_range, per-thread priorities).

/// sqlite3_bind_text with SQLITE_TRANSIENT: SQLite copies the bytes before returning.
static inline int raftlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int nbytes) {
    return sqlite3_bind_text(stmt, index, text, nbytes, SQLITE_TRANSIENT);
}

/// sqlite3_bind_blob with SQLITE_TRANSIENT: SQLite copies the bytes before returning.
static inline int raftlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, int nbytes) {
    return sqlite3_bind_blob(stmt, index, bytes, nbytes, SQLITE_TRANSIENT);
}

/// sqlite3_db_config(SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): when on, closing the last connection does not
/// checkpoint the WAL into the database file (rqlite sets this on every connection).
static inline int raftlite_db_config_no_ckpt_on_close(sqlite3 *db, int on) {
    int current = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, &current);
}

/// sqlite3_db_config(SQLITE_DBCONFIG_DEFENSIVE).
static inline int raftlite_db_config_defensive(sqlite3 *db, int on) {
    int current = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, &current);
}

/// The progress handler that implements statement deadlines: `context` points at a uint64_t holding the
/// deadline in CLOCK_MONOTONIC nanoseconds (0 = none). Returning non-zero makes SQLite interrupt the
/// running statement with SQLITE_INTERRUPT.
int raftlite_deadline_progress_handler(void *context);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t raftlite_monotonic_ns(void);

/// Installs (or, with a NULL deadline pointer, removes) the deadline progress handler.
static inline void raftlite_set_deadline_handler(sqlite3 *db, int instructions, uint64_t *deadline) {
    if (deadline) {
        sqlite3_progress_handler(db, instructions, raftlite_deadline_progress_handler, deadline);
    } else {
        sqlite3_progress_handler(db, 0, 0, 0);
    }
}

/// Writes a file being copied back to disk as it grows (Linux `sync_file_range`): waits for the writeback
/// started by the previous call and starts writing every page dirtied since, without waiting. With `drop`,
/// the pages already on disk then leave the page cache (`POSIX_FADV_DONTNEED`), so the copy streams
/// through a window of about two calls' worth of memory. Makes nothing durable (no metadata, no cache
/// flush): an fsync must follow. 0, or -1 with errno.
int raftlite_write_back(int fd, int drop);

/// Lowers the calling thread's CPU priority (nice value) and, when `io_level` is 0-7, puts its IO in the
/// best-effort class at that level (7 = lowest). For background copies. 0, or -1 if either failed.
int raftlite_lower_thread_priority(int nice_value, int io_level);

#endif
