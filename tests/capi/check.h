/* tests/capi/check.h - the C API tests' one assertion: CHECK(cond) reports
 * the file, line, function and condition, counts the failure and goes on,
 * so that one run names every check that fails; main returns g_failures
 * != 0. For C programs of one translation unit each. */
#ifndef PPOOL_TESTS_CAPI_CHECK_H
#define PPOOL_TESTS_CAPI_CHECK_H

#include <stdio.h>

static int g_failures;
#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, __func__, #cond); \
      g_failures++;                                                                          \
    }                                                                                        \
  } while (0)

#endif
