#ifndef RAFTLITE_CZLIB_H
#define RAFTLITE_CZLIB_H
#include <zlib.h>
#endif
