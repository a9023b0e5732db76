#ifndef CQRENCODE_SHIM_H
#define CQRENCODE_SHIM_H
/* libqrencode (libqrencode-dev) for the QRCode target, its only importer. */
#include <qrencode.h>
#endif
