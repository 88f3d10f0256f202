/* faultguard.h: surviving bad memory-mapped files instead of dying of a
 * signal. Two mechanisms, one pair of process-wide SIGBUS/SIGSEGV handlers
 * (installed on first use; faults they do not own go on to the handler
 * that was there before, or to the default action):
 *
 * - Guards: a thread marks a stretch of code that reads a mapping it does
 *   not trust (a store's LMDB map). A fault inside the guard's address
 *   range, or a trip (mx_fault_guard_trip, e.g. from LMDB's assertion
 *   callback), jumps back to where the guard was entered, which then
 *   reports the damage:
 *
 *       mx_fault_guard g;
 *       mx_fault_guard_push(&g, map, map_len);
 *       if (!MX_FAULT_GUARD_ENTER(&g)) {  // came back from a fault
 *         mx_fault_guard_pop(&g);
 *         return report(g.sig, g.why);
 *       }
 *       ... reads ...
 *       mx_fault_guard_pop(&g);
 *
 *   Locals changed inside the guarded code and read after a jump must be
 *   volatile. Guards nest per thread; a jump goes to the innermost one.
 *
 * - Watched mappings: a read-only file mapping that other processes may
 *   truncate (an input .npy). A SIGBUS on it, from any thread, maps a page
 *   of zeros over the lost page and marks the mapping as shrunk; the reader
 *   carries on and asks mx_fault_watch_shrunk before trusting what it read.
 */
#ifndef MX_COMMON_FAULTGUARD_H
#define MX_COMMON_FAULTGUARD_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mx_fault_guard {
  sigjmp_buf jb;
  uintptr_t lo, hi;
  struct mx_fault_guard *prev;
  volatile int sig; /* what jumped: SIGBUS, SIGSEGV, or 0 for a trip */
  char why[256];    /* a trip's message, or a description of the fault */
} mx_fault_guard;

/* Faults at [lo, lo + len + MX_FAULT_GUARD_SLACK) are caught: code that
 * follows damaged offsets inside a mapped page may read a little past it. */
#define MX_FAULT_GUARD_SLACK ((size_t)256 << 10)

void mx_fault_guard_push(mx_fault_guard *g, const void *lo, size_t len);
void mx_fault_guard_pop(mx_fault_guard *g);
/* Non-zero on entry; zero when control came back from a fault or a trip. */
#define MX_FAULT_GUARD_ENTER(g) (sigsetjmp((g)->jb, 0) == 0)

/* Jumps to this thread's innermost guard with `why`, if there is one;
 * returns (doing nothing) otherwise. */
void mx_fault_guard_trip(const char *why);

/* Watches [p, p + len). Returns 0, or -1 when every watch slot is taken
 * (the mapping is then read unprotected, as before). */
int mx_fault_watch(const void *p, size_t len);
/* Stops watching the mapping starting at p (before it is unmapped). */
void mx_fault_unwatch(const void *p);
/* 1 when a read of the watched mapping at p ran past the end of its file
 * (it read zeros there), else 0. */
int mx_fault_watch_shrunk(const void *p);

#endif
