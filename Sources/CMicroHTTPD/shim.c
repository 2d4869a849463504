#include "CMicroHTTPD.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void raftlite_mhd_logger(void *cls, const char *fmt, va_list ap) {
  struct raftlite_mhd_settings *settings = cls;
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  if (settings->log != NULL) settings->log(settings->cls, line);
}

struct MHD_Daemon *raftlite_mhd_start(struct raftlite_mhd_settings *s) {
  struct MHD_OptionItem options[16];
  int i = 0;
  /* The logger first, so that messages about the other options reach it too. */
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)raftlite_mhd_logger, s};
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)s->listen_fd, NULL};
  if (s->thread_pool_size > 1)
    options[i++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->thread_pool_size, NULL};
  if (s->connection_limit > 0)
    options[i++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->connection_limit, NULL};
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->connection_timeout, NULL};
  if (s->connection_memory_limit > 0)
    options[i++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->connection_memory_limit, NULL};
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)s->uri_log, s->cls};
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s->request_completed, s->cls};
  if (s->notify_connection != NULL)
    options[i++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)s->notify_connection, s->cls};
  options[i++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  return MHD_start_daemon(s->flags, 0, NULL, NULL, s->access_handler, s->cls,
                          MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

int raftlite_mhd_bound_port(struct MHD_Daemon *daemon) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  if (info == NULL) return -1;
  return (int)info->port;
}

int raftlite_format_sockaddr(const struct sockaddr *address, char *buffer, size_t length) {
  char ip[INET6_ADDRSTRLEN];
  if (address == NULL || length == 0) return -1;
  if (address->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)address;
    if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip) == NULL) return -1;
    snprintf(buffer, length, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    return 0;
  }
  if (address->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)address;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      if (inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip) == NULL) return -1;
      snprintf(buffer, length, "%s:%u", ip, (unsigned)ntohs(a->sin6_port));
      return 0;
    }
    if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip) == NULL) return -1;
    snprintf(buffer, length, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    return 0;
  }
  return -1;
}

int raftlite_mhd_peer_address(struct MHD_Connection *connection, char *buffer, size_t length) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == NULL || info->client_addr == NULL) return -1;
  return raftlite_format_sockaddr(info->client_addr, buffer, length);
}
