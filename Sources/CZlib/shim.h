#ifndef CIRCLE_ARCHIVE_CZLIB_H
#define CIRCLE_ARCHIVE_CZLIB_H

#include <zlib.h>

/// inflateInit2 is a macro in zlib.h; Swift needs a function.
static inline int CZlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
