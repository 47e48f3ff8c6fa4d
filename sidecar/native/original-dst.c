// getsockopt(SO_ORIGINAL_DST) for Node: the address a connection was sent to before an iptables
// REDIRECT rewrote it to the sidecar's listener. Node has no API for it. Built against Node-API
// only, so one binary loads in every Node version.
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv4.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char code[32];
  char message[160];
  snprintf(code, sizeof code, "E%d", err);
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

// originalDestination(fd: number): [address: string, port: number, family: 4 | 6] | null
// null when the connection was not redirected (no conntrack NAT entry).
static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "originalDestination(fd) needs a file descriptor");
    return NULL;
  }
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr*)&local, &local_len) != 0) return throw_errno(env, "getsockname", errno);

  struct sockaddr_storage dst;
  socklen_t len = sizeof dst;
  int rc = local.ss_family == AF_INET6
    ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len)
    : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
  napi_value result;
  if (rc != 0) {
    if (errno == ENOENT || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
      napi_get_null(env, &result);
      return result;
    }
    return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  }
  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  int family;
  if (dst.ss_family == AF_INET6) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)&dst;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
    family = 6;
  } else {
    struct sockaddr_in* a = (struct sockaddr_in*)&dst;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
    family = 4;
  }
  napi_value address, port_value, family_value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_uint32(env, port, &port_value);
  napi_create_uint32(env, (uint32_t)family, &family_value);
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, address);
  napi_set_element(env, result, 1, port_value);
  napi_set_element(env, result, 2, family_value);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL, &fn);
  napi_set_named_property(env, exports, "originalDestination", fn);
  return exports;
}
