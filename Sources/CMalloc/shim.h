// malloc_trim(3): glibc declares it in <malloc.h>, which Swift's Glibc module does not include.
// Other C libraries (musl, Darwin's) have no such call: there the trim does nothing.
#ifndef POSTIE_CMALLOC_SHIM_H
#define POSTIE_CMALLOC_SHIM_H

#if defined(__linux__)
#include <features.h>  // defines __GLIBC__ under glibc
#endif

#if defined(__GLIBC__)
#include <malloc.h>
/// Gives the free memory of every malloc arena back to the kernel; 1 when some was returned.
static inline int postie_malloc_trim(void) { return malloc_trim(0); }
#else
static inline int postie_malloc_trim(void) { return 0; }
#endif

#endif
