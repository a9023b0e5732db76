#ifndef CFASTCGI_READ_GUARD_H
#define CFASTCGI_READ_GUARD_H
/* The read guard under libfcgi: this target defines OS_Read, which libfcgi calls (through its PLT) for every read
   from a connection, so every byte libfcgi will parse passes here first, whenever it arrives. It follows the records
   exactly as libfcgi 2.4's FillBuffProc, ProcessHeader, ProcessBeginRecord, ProcessManagementRecord and
   FCGX_Accept_r consume them, and checks every name and value length libfcgi would allocate for: the request's
   parameters, and FCGI_GET_VALUES records at any point of the connection (libfcgi asserts, aborting the process,
   when such an allocation fails). A read that carries a length over the limit fails (-1, EPROTO) before libfcgi sees
   any of it: libfcgi then ends the request and the connection.

   The MSG_PEEK guard in CFastCGI's shim (CFastCGI_params_guard) still runs before each request (it also bounds the
   time and size of the parameters); this one closes what a look ahead cannot: records that arrive later. */
#include <stdint.h>

/* Starts following a reader: call before each FCGX_Accept_r with the connection and the request's current
   `requestId` (libfcgi makes a new reader there, parsing from the connection's current position). Per thread. */
void CFastCGIReadGuard_begin(int fd, int request_id);

/* Whether libfcgi's reads come here (this process exports OS_Read ahead of libfcgi's own): 1 or 0. */
int CFastCGIReadGuard_isActive(void);

/* The limit on one name or value length, in bytes (the default: 262144, as the MSG_PEEK guard). */
void CFastCGIReadGuard_setLimit(uint32_t limit);

/* Feeds bytes to the current thread's reader state as if libfcgi had read them from `fd`; returns -1 when they must
   be refused. (What OS_Read does after read(); exposed for tests.) */
int CFastCGIReadGuard_feed(int fd, const unsigned char *bytes, long count);
#endif
