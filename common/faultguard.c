/* faultguard.c: see faultguard.h. */
#include "faultguard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static struct sigaction old_bus, old_segv;
static uintptr_t page_mask;
static __thread mx_fault_guard *top;

#define MAX_WATCH 64
typedef struct watch_slot {
  _Atomic uintptr_t lo; /* 0: free */
  _Atomic uintptr_t hi;
  atomic_int shrunk;
} watch_slot;
static watch_slot watches[MAX_WATCH];

/* The handler that was there before ours gets the faults we do not own. */
static void chain(int sig, siginfo_t *si, void *uc) {
  const struct sigaction *o = sig == SIGBUS ? &old_bus : &old_segv;
  if ((o->sa_flags & SA_SIGINFO) && o->sa_sigaction) {
    o->sa_sigaction(sig, si, uc);
    return;
  }
  if (!(o->sa_flags & SA_SIGINFO) && o->sa_handler != SIG_DFL && o->sa_handler != SIG_IGN) {
    o->sa_handler(sig);
    return;
  }
  /* The default action: a real fault repeats when we return and now kills
   * the process as it would have; a sent signal is sent again. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  if (si->si_code <= 0)
    raise(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
  uintptr_t a = (uintptr_t)si->si_addr;
  mx_fault_guard *g = top;
  if (g && si->si_code > 0 && a >= g->lo && a < g->hi) {
    g->sig = sig;
    g->why[0] = '\0';
    siglongjmp(g->jb, 1);
  }
  if (sig == SIGBUS && si->si_code > 0) {
    for (int i = 0; i < MAX_WATCH; i++) {
      uintptr_t lo = atomic_load(&watches[i].lo), hi = atomic_load(&watches[i].hi);
      if (lo && a >= lo && a < hi) {
        void *p = mmap((void *)(a & ~page_mask), page_mask + 1, PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (p != MAP_FAILED) {
          atomic_store(&watches[i].shrunk, 1);
          return; /* the access repeats and reads zeros */
        }
      }
    }
  }
  chain(sig, si, uc);
}

static void install(void) {
  long ps = sysconf(_SC_PAGESIZE);
  page_mask = (uintptr_t)(ps > 0 ? ps : 4096) - 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* NODEFER: a jump out leaves it unblocked */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &old_bus);
  sigaction(SIGSEGV, &sa, &old_segv);
}

void mx_fault_guard_push(mx_fault_guard *g, const void *lo, size_t len) {
  pthread_once(&install_once, install);
  g->lo = (uintptr_t)lo;
  g->hi = g->lo + len + MX_FAULT_GUARD_SLACK;
  if (g->hi < g->lo)
    g->hi = UINTPTR_MAX;
  g->sig = 0;
  g->why[0] = '\0';
  g->prev = top;
  top = g;
}

void mx_fault_guard_pop(mx_fault_guard *g) { top = g->prev; }

void mx_fault_guard_trip(const char *why) {
  mx_fault_guard *g = top;
  if (!g)
    return;
  g->sig = 0;
  snprintf(g->why, sizeof g->why, "%s", why ? why : "");
  siglongjmp(g->jb, 1);
}

int mx_fault_watch(const void *p, size_t len) {
  if (!p || !len)
    return 0;
  pthread_once(&install_once, install);
  for (int i = 0; i < MAX_WATCH; i++) {
    uintptr_t expect = 0;
    if (atomic_compare_exchange_strong(&watches[i].lo, &expect, (uintptr_t)p)) {
      atomic_store(&watches[i].shrunk, 0);
      atomic_store(&watches[i].hi, (uintptr_t)p + len);
      return 0;
    }
  }
  return -1;
}

static watch_slot *find(const void *p) {
  for (int i = 0; p && i < MAX_WATCH; i++)
    if (atomic_load(&watches[i].lo) == (uintptr_t)p)
      return &watches[i];
  return NULL;
}

void mx_fault_unwatch(const void *p) {
  watch_slot *w = find(p);
  if (w) {
    atomic_store(&w->hi, 0);
    atomic_store(&w->lo, 0);
  }
}

int mx_fault_watch_shrunk(const void *p) {
  watch_slot *w = find(p);
  return w ? atomic_load(&w->shrunk) : 0;
}
