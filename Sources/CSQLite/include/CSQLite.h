#ifndef RAFTLITE_CSQLITE_H
#define RAFTLITE_CSQLITE_H
#include <sqlite3.h>
#endif
