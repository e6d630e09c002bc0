/* libFuzzer target: the streaming parser against the jansson oracle for a
 * POST /v1/loss body (see fuzz_check.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_check_diff(data, size, FUZZ_LOSS);
}
