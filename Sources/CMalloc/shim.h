// malloc_trim(3): glibc declares it in <malloc.h>, which Swift's Glibc module does not include.
#ifndef POSTIE_CMALLOC_SHIM_H
#define POSTIE_CMALLOC_SHIM_H

#if defined(__GLIBC__) || (defined(__linux__) && __has_include(<malloc.h>))
#include <malloc.h>
/// Gives the free memory of every malloc arena back to the kernel; 1 when some was returned.
static inline int postie_malloc_trim(void) { return malloc_trim(0); }
#else
static inline int postie_malloc_trim(void) { return 0; }
#endif

#endif
