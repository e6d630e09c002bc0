/*
 * daemon.c - start and stop a real xentd for the integration tests.
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { XT_MAX_ARGS = 64 };

void xt_sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

long long xt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *xt_daemon_binary(void) {
  const char *bin = getenv("XENTD");
  return (bin != NULL && bin[0] != '\0') ? bin : "build/xentd";
}

const char *xt_daemon_url_from_env(void) {
  static char url[256];
  const char *env = getenv("XENT_URL");
  size_t len;
  if (env == NULL || env[0] == '\0') {
    return NULL;
  }
  len = strlen(env);
  if (len >= sizeof url) {
    return NULL;
  }
  memcpy(url, env, len + 1);
  while (len > 0 && url[len - 1] == '/') {
    url[--len] = '\0';
  }
  return url;
}

static void path_in(const xt_daemon *d, const char *name, char *out,
                    size_t size) {
  snprintf(out, size, "%s/%s", d->dir, name);
}

static int read_port(const xt_daemon *d) {
  char path[320];
  char text[32];
  FILE *f;
  size_t got;
  long port;
  char *end;
  path_in(d, "port", path, sizeof path);
  f = fopen(path, "r");
  if (f == NULL) {
    return 0;
  }
  got = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[got] = '\0';
  port = strtol(text, &end, 10);
  if (end == text || port <= 0 || port > 65535) {
    return 0;
  }
  return (int)port;
}

static int can_connect(int port) {
  struct sockaddr_in addr;
  int ok;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = connect(fd, (const struct sockaddr *)&addr, sizeof addr) == 0;
  close(fd);
  return ok;
}

void xt_daemon_log(const xt_daemon *d, char *buf, size_t size) {
  char path[320];
  FILE *f;
  size_t got = 0;
  if (size == 0) {
    return;
  }
  path_in(d, "stderr.log", path, sizeof path);
  f = fopen(path, "r");
  if (f != NULL) {
    got = fread(buf, 1, size - 1, f);
    fclose(f);
  }
  buf[got] = '\0';
}

static void remove_dir(xt_daemon *d) {
  char path[320];
  if (d->dir[0] == '\0') {
    return;
  }
  path_in(d, "port", path, sizeof path);
  unlink(path);
  path_in(d, "stderr.log", path, sizeof path);
  unlink(path);
  rmdir(d->dir);
  d->dir[0] = '\0';
}

static void dump_log(const xt_daemon *d, const char *why) {
  char log[4096];
  xt_daemon_log(d, log, sizeof log);
  fprintf(stderr, "xt_daemon: %s; xentd stderr:\n%s\n", why, log);
}

static void child_exec(const xt_daemon *d, const char *const *extra) {
  const char *argv[XT_MAX_ARGS];
  char portfile[320];
  char logpath[320];
  int n = 0;
  int fd;
  path_in(d, "port", portfile, sizeof portfile);
  path_in(d, "stderr.log", logpath, sizeof logpath);
  /* An orphaned daemon must not outlive a test that crashed. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  argv[n++] = xt_daemon_binary();
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--port-file";
  argv[n++] = portfile;
  for (int i = 0; extra != NULL && extra[i] != NULL && n < XT_MAX_ARGS - 1;
       i++) {
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  execv(argv[0], (char *const *)argv);
  fprintf(stderr, "xt_daemon: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

int xt_daemon_start(xt_daemon *d, const char *const *extra, int wait_ms) {
  const long long deadline = xt_now_ms() + wait_ms;
  pid_t pid;
  memset(d, 0, sizeof *d);
  snprintf(d->dir, sizeof d->dir, "/tmp/xentd-it-XXXXXX");
  if (mkdtemp(d->dir) == NULL) {
    fprintf(stderr, "xt_daemon: mkdtemp: %s\n", strerror(errno));
    d->dir[0] = '\0';
    return -1;
  }
  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "xt_daemon: fork: %s\n", strerror(errno));
    remove_dir(d);
    return -1;
  }
  if (pid == 0) {
    child_exec(d, extra);
  }
  d->pid = pid;
  while (xt_now_ms() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid = 0;
      dump_log(d, "xentd exited before writing its port");
      remove_dir(d);
      return -1;
    }
    d->port = read_port(d);
    if (d->port > 0 && can_connect(d->port)) {
      snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", d->port);
      return 0;
    }
    xt_sleep_ms(20);
  }
  dump_log(d, "xentd did not publish a reachable port in time");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  d->pid = 0;
  remove_dir(d);
  return -1;
}

void xt_daemon_signal(const xt_daemon *d, int sig) {
  if (d->pid > 0) {
    kill(d->pid, sig);
  }
}

int xt_daemon_wait(xt_daemon *d, int wait_ms) {
  const long long deadline = xt_now_ms() + wait_ms;
  int status = 0;
  int result = -1;
  if (d->pid <= 0) {
    return -1;
  }
  for (;;) {
    const pid_t got = waitpid(d->pid, &status, WNOHANG);
    if (got == d->pid) {
      if (WIFEXITED(status)) {
        result = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result = 128 + WTERMSIG(status);
      }
      break;
    }
    if (got < 0 && errno != EINTR) {
      break;
    }
    if (xt_now_ms() >= deadline) {
      dump_log(d, "xentd did not exit in time after SIGTERM; killing it");
      kill(d->pid, SIGKILL);
      waitpid(d->pid, NULL, 0);
      break;
    }
    xt_sleep_ms(10);
  }
  if (result != 0) {
    char why[64];
    snprintf(why, sizeof why, "xentd exit status %d", result);
    dump_log(d, why);
  }
  d->pid = 0;
  remove_dir(d);
  return result;
}

int xt_daemon_stop(xt_daemon *d, int wait_ms) {
  xt_daemon_signal(d, SIGTERM);
  return xt_daemon_wait(d, wait_ms);
}
