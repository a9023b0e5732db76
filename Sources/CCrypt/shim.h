#ifndef CCRYPT_SHIM_H
#define CCRYPT_SHIM_H
/* libxcrypt: crypt_r/crypt_rn for bcrypt ($2y$, $2b$) verification. */
#include <crypt.h>
#endif
