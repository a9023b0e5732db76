#ifndef CMARIADB_SHIM_H
#define CMARIADB_SHIM_H
/* MariaDB Connector/C (libmariadb-dev) for the MariaDB target, its only importer. */
#include <stddef.h>
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

/* mysql_library_init is a function-like macro, which Swift does not import. */
static inline int CMariaDB_library_init(void) {
    return mysql_library_init(0, NULL, NULL);
}

/* The my_bool flags of MYSQL_BIND are char-typed; these keep the casts in C. */
static inline void CMariaDB_bind_set_null_ptr(MYSQL_BIND *bind, char *is_null) {
    bind->is_null = (my_bool *)is_null;
}
#endif
