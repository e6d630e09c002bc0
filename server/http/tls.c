/*
 * tls.c - certificate and key for libmicrohttpd's TLS (see tls.h).
 *
 * Process-wide state, on purpose: GnuTLS calls the certificate callback
 * (gnutls_certificate_retrieve_function2) with no closure argument, and
 * libmicrohttpd 0.9.75 gives no way from a TLS session back to the
 * daemon's own data; the one pointer `installed` is that closure.
 */
#include "tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CHAIN = 16 };

/* One loaded pair. Replaced pairs are kept until xs_tls_free: a handshake
 * that began with one may still be using it. */
typedef struct pair {
  gnutls_pcert_st chain[MAX_CHAIN];
  unsigned length;
  gnutls_privkey_t key;
  struct pair *older;
} pair;

struct xs_tls {
  char cert_file[1024];
  char key_file[1024];
  pthread_mutex_t lock;
  pair *current;
};

const char xs_tls_priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

static xs_tls *installed;

static void pair_free(pair *p) {
  while (p != NULL) {
    pair *older = p->older;
    for (unsigned i = 0; i < p->length; i++)
      gnutls_pcert_deinit(&p->chain[i]);
    if (p->key != NULL)
      gnutls_privkey_deinit(p->key);
    free(p);
    p = older;
  }
}

static pair *pair_load(const char *cert_file, const char *key_file, char *err,
                       size_t err_size) {
  gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
  pair *p = calloc(1, sizeof *p);
  int rc = p == NULL ? GNUTLS_E_MEMORY_ERROR : 0;
  if (rc == 0 && (rc = gnutls_load_file(cert_file, &cert)) < 0)
    snprintf(err, err_size, "cannot read --tls-cert %s: %s", cert_file,
             gnutls_strerror(rc));
  else if (rc == 0 && (rc = gnutls_load_file(key_file, &key)) < 0)
    snprintf(err, err_size, "cannot read --tls-key %s: %s", key_file,
             gnutls_strerror(rc));
  if (rc == 0) {
    p->length = MAX_CHAIN;
    rc = gnutls_pcert_list_import_x509_raw(p->chain, &p->length, &cert,
                                           GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || p->length == 0) {
      p->length = 0;
      snprintf(err, err_size, "--tls-cert %s: not a PEM certificate chain%s%s",
               cert_file, rc < 0 ? ": " : "",
               rc < 0 ? gnutls_strerror(rc) : "");
      rc = rc < 0 ? rc : GNUTLS_E_BASE64_DECODING_ERROR;
    }
  }
  if (rc == 0 && (rc = gnutls_privkey_init(&p->key)) == 0) {
    rc = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL,
                                        0);
    if (rc < 0)
      snprintf(err, err_size, "--tls-key %s: not a PEM private key: %s",
               key_file, gnutls_strerror(rc));
  }
  /* The key must be the certificate's: its public half, exported, is the
   * certificate's public key byte for byte. A pair that does not match
   * would load and then fail every handshake. */
  if (rc == 0) {
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    int same = gnutls_pubkey_init(&pub) == 0 &&
               gnutls_pubkey_import_privkey(pub, p->key, 0, 0) == 0 &&
               gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) == 0 &&
               gnutls_pubkey_export2(p->chain[0].pubkey, GNUTLS_X509_FMT_DER,
                                     &b) == 0 &&
               a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (pub != NULL)
      gnutls_pubkey_deinit(pub);
    if (!same) {
      snprintf(err, err_size,
               "--tls-key %s is not the key of the first certificate of "
               "--tls-cert %s",
               key_file, cert_file);
      rc = GNUTLS_E_CERTIFICATE_KEY_MISMATCH;
    }
  }
  gnutls_free(cert.data);
  gnutls_free(key.data);
  if (rc < 0) {
    if (p != NULL && err[0] == '\0')
      snprintf(err, err_size, "TLS: %s", gnutls_strerror(rc));
    pair_free(p);
    return NULL;
  }
  return p;
}

xs_tls *xs_tls_new(const char *cert_file, const char *key_file, char *err,
                   size_t err_size) {
  xs_tls *t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  snprintf(t->cert_file, sizeof t->cert_file, "%s", cert_file);
  snprintf(t->key_file, sizeof t->key_file, "%s", key_file);
  err[0] = '\0';
  t->current = pair_load(cert_file, key_file, err, err_size);
  if (t->current == NULL || pthread_mutex_init(&t->lock, NULL) != 0) {
    pair_free(t->current);
    free(t);
    return NULL;
  }
  return t;
}

int xs_tls_reload(xs_tls *t, char *err, size_t err_size) {
  err[0] = '\0';
  pair *p = pair_load(t->cert_file, t->key_file, err, err_size);
  if (p == NULL)
    return -1;
  pthread_mutex_lock(&t->lock);
  p->older = t->current;
  t->current = p;
  pthread_mutex_unlock(&t->lock);
  return 0;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca,
                    int nreqs, const gnutls_pk_algorithm_t *algos, int nalgos,
                    gnutls_pcert_st **chain, unsigned int *length,
                    gnutls_privkey_t *key) {
  (void)session;
  (void)req_ca;
  (void)nreqs;
  (void)algos;
  (void)nalgos;
  xs_tls *t = installed;
  if (t == NULL)
    return -1;
  pthread_mutex_lock(&t->lock);
  *chain = t->current->chain;
  *length = t->current->length;
  *key = t->current->key;
  pthread_mutex_unlock(&t->lock);
  return 0;
}

gnutls_certificate_retrieve_function2 *xs_tls_callback(void) {
  return retrieve;
}

void xs_tls_install(xs_tls *t) {
  installed = t;
}

void xs_tls_free(xs_tls *t) {
  if (t == NULL)
    return;
  if (installed == t)
    installed = NULL;
  pair_free(t->current);
  pthread_mutex_destroy(&t->lock);
  free(t);
}
