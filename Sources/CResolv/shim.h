// glibc's stub resolver (libresolv), for queries against a chosen server.
// No Swift package resolves MX, TXT or PTR records; these few inline helpers spare Swift the C
// macros and fixed-size arrays of res_state and ns_msg.
#ifndef POSTIE_CRESOLV_SHIM_H
#define POSTIE_CRESOLV_SHIM_H

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <netdb.h>
#include <string.h>

/// Sets up a resolver state; with a server given, queries go only to it.
static inline int postie_res_init(res_state state, const char *server, int port, int timeout, int attempts) {
    memset(state, 0, sizeof(*state));
    if (__res_ninit(state) != 0) return -1;
    if (server != NULL && server[0] != 0) {
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, server, &addr.sin_addr) != 1) return -1;
        state->nsaddr_list[0] = addr;
        state->nscount = 1;
    }
    state->options &= ~(RES_DNSRCH | RES_DEFNAMES);
    if (timeout > 0) state->retrans = timeout;
    if (attempts > 0) state->retry = attempts;
    return 0;
}

static inline void postie_res_close(res_state state) { __res_nclose(state); }

static inline int postie_section_count(const ns_msg *msg, ns_sect section) { return ns_msg_count(*msg, section); }

static inline int postie_rcode(const ns_msg *msg) { return ns_msg_getflag(*msg, ns_f_rcode); }

#endif
