#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

const char *const CCurl_smtp_protocols = "smtp,smtps";

/* libcurl's entry points, resolved once by load(). */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
} curl;

static int loaded;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer (POSIX guarantees the conversion works; C leaves it to the implementation). */
static int resolve(void *library, void *field, const char *name) {
    void *symbol = dlsym(library, name);
    if (symbol == NULL) {
        snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s", name);
        return 0;
    }
    *(void **)field = symbol;
    return 1;
}

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "%s", why != NULL ? why : "dlopen(libcurl.so.4) failed");
        return;
    }
    if (!resolve(library, &curl.global_init, "curl_global_init") || !resolve(library, &curl.easy_init, "curl_easy_init")
        || !resolve(library, &curl.easy_cleanup, "curl_easy_cleanup")
        || !resolve(library, &curl.easy_perform, "curl_easy_perform")
        || !resolve(library, &curl.easy_strerror, "curl_easy_strerror")
        || !resolve(library, &curl.easy_setopt, "curl_easy_setopt")
        || !resolve(library, &curl.easy_getinfo, "curl_easy_getinfo")
        || !resolve(library, &curl.slist_append, "curl_slist_append")
        || !resolve(library, &curl.slist_free_all, "curl_slist_free_all")) {
        return;
    }
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed");
        return;
    }
    loaded = 1;
}

int CCurl_load(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *CCurl_load_error(void) { return CCurl_load() ? NULL : load_error; }

CURL *CCurl_easy_init(void) { return CCurl_load() ? curl.easy_init() : NULL; }

void CCurl_easy_cleanup(CURL *handle) {
    if (CCurl_load()) curl.easy_cleanup(handle);
}

CURLcode CCurl_easy_perform(CURL *handle) { return CCurl_load() ? curl.easy_perform(handle) : CURLE_FAILED_INIT; }

const char *CCurl_easy_strerror(CURLcode code) {
    return CCurl_load() ? curl.easy_strerror(code) : "libcurl is not available";
}

struct curl_slist *CCurl_slist_append(struct curl_slist *list, const char *text) {
    return CCurl_load() ? curl.slist_append(list, text) : NULL;
}

void CCurl_slist_free_all(struct curl_slist *list) {
    if (CCurl_load()) curl.slist_free_all(list);
}

CURLcode CCurl_setopt_long(CURL *handle, CURLoption option, long value) {
    return CCurl_load() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode CCurl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return CCurl_load() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode CCurl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return CCurl_load() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode CCurl_setopt_list(CURL *handle, CURLoption option, struct curl_slist *value) {
    return CCurl_load() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode CCurl_setopt_read_function(CURL *handle, curl_read_callback function) {
    return CCurl_load() ? curl.easy_setopt(handle, CURLOPT_READFUNCTION, function) : CURLE_FAILED_INIT;
}

CURLcode CCurl_setopt_debug_function(CURL *handle, curl_debug_callback function) {
    return CCurl_load() ? curl.easy_setopt(handle, CURLOPT_DEBUGFUNCTION, function) : CURLE_FAILED_INIT;
}

CURLcode CCurl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return CCurl_load() ? curl.easy_getinfo(handle, info, value) : CURLE_FAILED_INIT;
}
