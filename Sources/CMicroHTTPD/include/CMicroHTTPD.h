#ifndef RAFTLITE_CMICROHTTPD_H
#define RAFTLITE_CMICROHTTPD_H
#include <microhttpd.h>
#endif
