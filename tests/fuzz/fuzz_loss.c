/* libFuzzer target: a request body for POST /v1/loss (see fuzz_check.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_check_request(data, size, FUZZ_LOSS);
}
