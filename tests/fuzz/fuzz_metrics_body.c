/* libFuzzer target: a body of POST /v1/metrics, its merge or its report
 * (see fuzz_check.h, fuzz_check_metrics). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_check_metrics(data, size);
}
