/* A program built only from what `make install` wrote, through pkg-config:
 * prints the linked version and the loss of logits [1, 2, 3] with label 2,
 * which is log(e + e^2 + e^3) - 3 = 0.40760596444438 by hand. */
#include <stdio.h>

#include <xent.h>

int main(void) {
  const double logits[3] = {1.0, 2.0, 3.0};
  const int64_t target[1] = {2};
  xent_problem p;
  xent_problem_init(&p);
  p.n = 1;
  p.classes = 3;
  p.logits = logits;
  p.targets = target;
  double loss = 0;
  xent_outputs out = {0};
  out.loss = &loss;
  xent_error err;
  if (xent_evaluate(&p, &out, NULL, 0, &err) != XENT_OK)
    return 1;
  printf("%s %s %.14f\n", XENT_VERSION_STRING, xent_version_string(), loss);
  return 0;
}
