/*
 * hold_accept.c - an LD_PRELOAD shim for test_shutdown. The file named by
 * XT_HOLD_ACCEPT holds a client port; when a connection from that port is
 * accepted, the shim removes the file (which tells the test) and returns
 * the new descriptor only once the listening socket has stopped listening
 * (and 0.2 s after that).
 * That puts xentd's accepting thread where a thread preempted at the wrong
 * moment would be: past accept(2), before libmicrohttpd has announced the
 * connection, while SIGTERM closes the listener.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef int (*accept4_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict, int);
typedef int (*accept_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict);

static int listening(int fd) {
  int on = 0;
  socklen_t len = sizeof on;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/* At most a minute: a test that never closes the listener fails on its
 * own deadlines, not here. */
static int held(int listener, int fd) {
  const char *arm = getenv("XT_HOLD_ACCEPT");
  FILE *f = fd >= 0 && arm != NULL ? fopen(arm, "r") : NULL;
  if (f == NULL)
    return fd;
  unsigned port = 0;
  const int read = fscanf(f, "%u", &port) == 1;
  fclose(f);
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  if (!read || getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
      peer.sin_family != AF_INET || ntohs(peer.sin_port) != port ||
      unlink(arm) != 0)
    return fd;
  const struct timespec pause = {0, 1000000};
  for (int ms = 0; ms < 60000 && listening(listener); ms++)
    nanosleep(&pause, NULL);
  /* And 0.2 s more: a daemon that does not wait for the announcement has
   * ended its drain by then (the test fails); one that waits answers the
   * same however long this takes. */
  const struct timespec more = {0, 200000000};
  nanosleep(&more, NULL);
  return fd;
}

/* The next definition of name (libc's): POSIX lets dlsym's object pointer
 * stand for a function; memcpy says so without a cast ISO C forbids. */
static void next(const char *name, void *fn, size_t size) {
  void *sym = dlsym(RTLD_NEXT, name);
  memcpy(fn, &sym, size);
}

/* glibc declares the address argument as __SOCKADDR_ARG under _GNU_SOURCE;
 * the definitions must match its prototypes. */
int accept4(int s, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags) {
  accept4_fn real;
  next("accept4", &real, sizeof real);
  return held(s, real(s, addr, len, flags));
}

int accept(int s, __SOCKADDR_ARG addr, socklen_t *__restrict len) {
  accept_fn real;
  next("accept", &real, sizeof real);
  return held(s, real(s, addr, len));
}
