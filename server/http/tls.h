/*
 * tls.h - xentd's certificate and key, loaded from PEM files and handed to
 * every TLS handshake by libmicrohttpd's certificate callback, so that
 * they can be replaced (SIGHUP) while connections stay up: a handshake
 * takes whatever is current when it begins.
 */
#ifndef XENTD_TLS_H
#define XENTD_TLS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

typedef struct xs_tls xs_tls;

/* Loads cert_file (a PEM chain) and key_file (a PEM private key); NULL with
 * a one-line reason in err when either cannot be used. */
xs_tls *xs_tls_new(const char *cert_file, const char *key_file, char *err,
                   size_t err_size);

/* Loads the two files again; on failure keeps the current pair and says
 * why in err. Returns 0 or -1. */
int xs_tls_reload(xs_tls *t, char *err, size_t err_size);

/* The callback for MHD_OPTION_HTTPS_CERT_CALLBACK, reading the pair set
 * by xs_tls_install (one xs_tls per process). */
gnutls_certificate_retrieve_function2 *xs_tls_callback(void);
void xs_tls_install(xs_tls *t);

/* The TLS versions offered: 1.2 and 1.3 only. */
extern const char xs_tls_priorities[];

void xs_tls_free(xs_tls *t);

#endif /* XENTD_TLS_H */
