#ifndef CCURL_H
#define CCURL_H
/* libcurl for the SMTP target, its only importer: the headers of libcurl4-openssl-dev at build time, libcurl.so.4
   loaded with dlopen at run time by the first call (the mail sender, `mail test`). Not linked: every process of the
   executable would map libcurl and the 26 libraries it brings at exec (3.7 MiB of each worker's RSS, measured in
   bench/README.md), and the workers never send mail.

   curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: these wrappers fix the argument
   type of each use. Every function loads the library first (once per process, thread-safe); when it cannot be
   loaded they fail as libcurl would (NULL, CURLE_FAILED_INIT) and CCurl_load_error says why. */
#include <curl/curl.h>

/* 1 when libcurl is loaded and initialised (curl_global_init), 0 otherwise. */
int CCurl_load(void);
/* Why CCurl_load failed, or NULL. */
const char *CCurl_load_error(void);

CURL *CCurl_easy_init(void);
void CCurl_easy_cleanup(CURL *handle);
CURLcode CCurl_easy_perform(CURL *handle);
const char *CCurl_easy_strerror(CURLcode code);
struct curl_slist *CCurl_slist_append(struct curl_slist *list, const char *text);
void CCurl_slist_free_all(struct curl_slist *list);

CURLcode CCurl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CCurl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CCurl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CCurl_setopt_list(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode CCurl_setopt_read_function(CURL *handle, curl_read_callback function);
CURLcode CCurl_setopt_debug_function(CURL *handle, curl_debug_callback function);
CURLcode CCurl_getinfo_long(CURL *handle, CURLINFO info, long *value);

/* The protocols a transfer may use: SMTP and SMTPS only (never what a URL would otherwise name). */
extern const char *const CCurl_smtp_protocols;
#endif
