#ifndef RAFTLITE_CMICROHTTPD_H
#define RAFTLITE_CMICROHTTPD_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>

/// Receives each formatted libmicrohttpd error-log line (the printf-style va_list is expanded in C).
typedef void (*raftlite_mhd_log_fn)(void *cls, const char *message);
/// The shape of MHD_OPTION_URI_LOG_CALLBACK: the full request target as sent, query included.
typedef void *(*raftlite_mhd_uri_log_fn)(void *cls, const char *uri, struct MHD_Connection *connection);

/// Everything the Swift side passes to `raftlite_mhd_start`. The struct must outlive the daemon
/// (it is the logger's closure).
struct raftlite_mhd_settings {
  unsigned int flags;
  int listen_fd;
  unsigned int thread_pool_size;
  unsigned int connection_limit;
  unsigned int connection_timeout;
  size_t connection_memory_limit;
  MHD_AccessHandlerCallback access_handler;
  MHD_RequestCompletedCallback request_completed;
  raftlite_mhd_uri_log_fn uri_log;
  MHD_NotifyConnectionCallback notify_connection;
  raftlite_mhd_log_fn log;
  void *cls;
};

/// MHD_start_daemon with the options as an MHD_OPTION_ARRAY (the variadic call is not callable from Swift).
struct MHD_Daemon *raftlite_mhd_start(struct raftlite_mhd_settings *settings);
/// The bound port (MHD_DAEMON_INFO_BIND_PORT), or -1.
int raftlite_mhd_bound_port(struct MHD_Daemon *daemon);
/// Formats the peer as `ip:port` or `[ip]:port` (IPv4-mapped IPv6 shown as IPv4). Returns 0 on success.
int raftlite_mhd_peer_address(struct MHD_Connection *connection, char *buffer, size_t length);
/// Formats a sockaddr the same way. Returns 0 on success.
int raftlite_format_sockaddr(const struct sockaddr *address, char *buffer, size_t length);

static const ssize_t raftlite_mhd_content_reader_end_of_stream = MHD_CONTENT_READER_END_OF_STREAM;
static const ssize_t raftlite_mhd_content_reader_end_with_error = MHD_CONTENT_READER_END_WITH_ERROR;
static const uint64_t raftlite_mhd_size_unknown = MHD_SIZE_UNKNOWN;
#endif
